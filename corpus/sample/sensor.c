/* NTC thermistor on a 12-bit ADC: an 8-sample moving average, then linear
 * interpolation in the calibration table (table.c). */
#include "sample.h"

#define ADC_BASE 0x40020000u
#define ADC_CTRL REG32(ADC_BASE + 0x00u)
#define ADC_STATUS REG32(ADC_BASE + 0x04u)
#define ADC_RESULT REG32(ADC_BASE + 0x08u)
#define AVG_LEN 8u

static uint16_t history[AVG_LEN];
static uint32_t history_pos, history_sum;

static uint16_t adc_convert(void)
{
    ADC_CTRL = 1u;
    for (uint32_t spin = 0; spin < 1000u && !(ADC_STATUS & 1u); spin++)
        ;
    return (uint16_t)(ADC_RESULT & 0x0FFFu);
}

void sensor_init(void)
{
    uint16_t first = adc_convert();
    for (uint32_t i = 0; i < AVG_LEN; i++)
        history[i] = first;
    history_sum = (uint32_t)first * AVG_LEN;
    history_pos = 0;
}

static int32_t interpolate(uint32_t raw)
{
    uint32_t idx = raw >> 7;          /* 32 segments over 0..4095 */
    uint32_t frac = raw & 0x7Fu;
    int32_t a = ntc_table[idx], b = ntc_table[idx + 1u];
    return a + (b - a) * (int32_t)frac / 128;
}

int32_t sensor_read_decicelsius(void)
{
    uint16_t sample = adc_convert();
    history_sum -= history[history_pos];
    history[history_pos] = sample;
    history_sum += sample;
    history_pos = (history_pos + 1u) % AVG_LEN;
    return interpolate(history_sum / AVG_LEN);
}
