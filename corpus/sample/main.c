/* Main loop: sample the temperature every SAMPLE_PERIOD_MS, send it as a
 * telemetry frame, blink the LED, and answer the few console commands. */
#include "sample.h"

#define MSG_TEMPERATURE 0x01u
#define MSG_STATUS 0x02u
#define MSG_VERSION 0x03u
#define ALARM_DECICELSIUS 600

typedef struct stats {
    uint32_t samples;
    int32_t min_dc, max_dc;
    uint32_t alarms;
} stats;

static stats st = { 0, 10000, -10000, 0 };

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void send_temperature(int32_t dc, uint32_t now)
{
    uint8_t p[8];
    put_le32(p, (uint32_t)dc);
    put_le32(p + 4, now);
    proto_send(MSG_TEMPERATURE, p, sizeof(p));
}

static void send_status(void)
{
    uint8_t p[16];
    put_le32(p, st.samples);
    put_le32(p + 4, (uint32_t)st.min_dc);
    put_le32(p + 8, (uint32_t)st.max_dc);
    put_le32(p + 12, st.alarms);
    proto_send(MSG_STATUS, p, sizeof(p));
}

static void send_version(void)
{
    static const uint8_t v[4] = { 1, FW_VERSION, 0, 0 };
    proto_send(MSG_VERSION, v, sizeof(v));
}

static void handle_command(int c)
{
    switch (c) {
    case 's': send_status(); break;
    case 'v': send_version(); break;
    case 'u': update_run(); break;
    case 'r':
        st.samples = 0;
        st.min_dc = 10000;
        st.max_dc = -10000;
        st.alarms = 0;
        uart_puts("stats reset\r\n");
        break;
    default: break;
    }
}

static void record(int32_t dc)
{
    st.samples++;
    if (dc < st.min_dc)
        st.min_dc = dc;
    if (dc > st.max_dc)
        st.max_dc = dc;
    if (dc >= ALARM_DECICELSIUS) {
        st.alarms++;
        uart_puts("ALARM: temperature ");
        uart_put_u32((uint32_t)(dc / 10));
        uart_puts(" C\r\n");
    }
}

int main(void)
{
    gpio_init();
    uart_init(UART_BAUD);
    timer_init();
    sensor_init();
    uart_puts("sensor node v1.");
    uart_put_u32(FW_VERSION);
    uart_puts(" ready\r\n");
    uint32_t next = millis();
    int led = 0;
    for (;;) {
        uint32_t now = millis();
        int c = uart_getc();
        if (c >= 0)
            handle_command(c);
#if FW_VERSION >= 2
        if (gpio_button_pressed(now))
            send_status();
#endif
        if ((int32_t)(now - next) >= 0) {
            next += SAMPLE_PERIOD_MS;
            int32_t dc = sensor_read_decicelsius();
            record(dc);
            send_temperature(dc, now);
            led = !led;
            gpio_write(LED_PIN, led);
        }
        delay_ms(1);
    }
}
