/* Telemetry frames on the UART: 0x7E, type, length, payload, CRC-16/CCITT. */
#include "sample.h"

#define FRAME_START 0x7Eu

uint16_t crc16(const uint8_t *p, uint32_t n)
{
    uint16_t crc = 0xFFFFu;
    while (n--)
        crc = (uint16_t)((crc << 8) ^ crc16_table[((crc >> 8) ^ *p++) & 0xFFu]);
    return crc;
}

void proto_send(uint8_t type, const uint8_t *payload, uint8_t len)
{
    uint8_t head[2] = { type, len };
    uint16_t crc = crc16(head, 2);
    for (uint8_t i = 0; i < len; i++)
        crc = (uint16_t)((crc << 8) ^ crc16_table[((crc >> 8) ^ payload[i]) & 0xFFu]);
    uart_putc((char)FRAME_START);
    uart_putc((char)type);
    uart_putc((char)len);
    for (uint8_t i = 0; i < len; i++)
        uart_putc((char)payload[i]);
    uart_putc((char)(crc >> 8));
    uart_putc((char)crc);
}
