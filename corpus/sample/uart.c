/* CMSDK APB UART0, polled. */
#include "sample.h"

#define UART_BASE 0x40004000u
#define UART_DATA REG32(UART_BASE + 0x00u)
#define UART_STATE REG32(UART_BASE + 0x04u)
#define UART_CTRL REG32(UART_BASE + 0x08u)
#define UART_BAUDDIV REG32(UART_BASE + 0x10u)
#define STATE_TX_FULL 0x1u
#define STATE_RX_FULL 0x2u
#define CTRL_TX_EN 0x1u
#define CTRL_RX_EN 0x2u

void uart_init(uint32_t baud)
{
    UART_BAUDDIV = CPU_HZ / baud;
    UART_CTRL = CTRL_TX_EN | CTRL_RX_EN;
}

void uart_putc(char c)
{
    while (UART_STATE & STATE_TX_FULL)
        ;
    UART_DATA = (uint8_t)c;
}

void uart_puts(const char *s)
{
    while (*s)
        uart_putc(*s++);
}

void uart_put_u32(uint32_t v)
{
    char buf[10];
    int n = 0;
    do {
        buf[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n)
        uart_putc(buf[--n]);
}

int uart_getc(void)
{
    if (!(UART_STATE & STATE_RX_FULL))
        return -1;
    return (int)(UART_DATA & 0xFFu);
}
