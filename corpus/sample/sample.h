/* Sample sensor-node firmware for the fwdelta demo (see README.md). The
 * peripherals are the CMSDK ones of Arm's MPS2 boards. FW_VERSION (1 or 2)
 * comes from the build. */
#ifndef SAMPLE_H
#define SAMPLE_H

#include <stdint.h>

#ifndef FW_VERSION
#define FW_VERSION 1
#endif

#if FW_VERSION >= 2
#define SAMPLE_PERIOD_MS 250u /* v2: slower sampling saves battery */
#else
#define SAMPLE_PERIOD_MS 100u
#endif

#define CPU_HZ 25000000u
#define UART_BAUD 115200u
#define LED_PIN 0u
#define BUTTON_PIN 4u

#define REG32(addr) (*(volatile uint32_t *)(addr))

/* gpio.c */
void gpio_init(void);
void gpio_write(unsigned pin, int on);
int gpio_read(unsigned pin);
#if FW_VERSION >= 2
int gpio_button_pressed(uint32_t now_ms);
#endif

/* uart.c */
void uart_init(uint32_t baud);
void uart_putc(char c);
void uart_puts(const char *s);
void uart_put_u32(uint32_t v);
int uart_getc(void);

/* timer.c */
void timer_init(void);
uint32_t millis(void);
void delay_ms(uint32_t ms);

/* sensor.c */
void sensor_init(void);
int32_t sensor_read_decicelsius(void);

/* table.c */
extern const int16_t ntc_table[33];
extern const uint16_t crc16_table[256];

/* update.c */
void update_run(void);

/* proto.c */
uint16_t crc16(const uint8_t *p, uint32_t n);
void proto_send(uint8_t type, const uint8_t *payload, uint8_t len);

#endif
