/* CMSDK AHB GPIO: LED output and a push button input. */
#include "sample.h"

#define GPIO_BASE 0x40010000u
#define GPIO_DATA REG32(GPIO_BASE + 0x000u)
#define GPIO_DATAOUT REG32(GPIO_BASE + 0x004u)
#define GPIO_OUTENSET REG32(GPIO_BASE + 0x010u)
#define GPIO_OUTENCLR REG32(GPIO_BASE + 0x014u)

#if FW_VERSION >= 2
/* A press counts once the button has read low for 30 ms in a row. */
int gpio_button_pressed(uint32_t now_ms)
{
    static uint32_t low_since;
    static int reported;
    if (gpio_read(BUTTON_PIN)) {
        low_since = 0;
        reported = 0;
        return 0;
    }
    if (low_since == 0)
        low_since = now_ms ? now_ms : 1u;
    if (!reported && now_ms - low_since >= 30u) {
        reported = 1;
        return 1;
    }
    return 0;
}
#endif

void gpio_init(void)
{
    GPIO_OUTENSET = 1u << LED_PIN;
    GPIO_OUTENCLR = 1u << BUTTON_PIN;
    GPIO_DATAOUT = 0;
}

void gpio_write(unsigned pin, int on)
{
    uint32_t v = GPIO_DATAOUT;
    GPIO_DATAOUT = on ? (v | (1u << pin)) : (v & ~(1u << pin));
}

int gpio_read(unsigned pin)
{
    return (GPIO_DATA >> pin) & 1u;
}
