// What the Swift firmware (App/main.swift) needs from the bare-metal support code (support/*.c):
// the weight blob and test signal linked into flash, output over semihosting, instrumentation
// probes, and memory statistics. Same interface on Cortex-M and RISC-V.
#pragma once
#include <stdint.h>
#include <stddef.h>

/// The weight blob in flash and its size in bytes.
const void *fw_blob(size_t *size);
/// The test signal in flash: a "CLEFSIG1" header (hop, sample count) and int16 ADC counts.
const void *fw_signal(size_t *size);
/// Writes a NUL-terminated string over semihosting.
void fw_write(const char *s);
/// Probes around each window's embedding (for the instruction counter); never inlined.
void clef_window_begin(void);
void clef_window_end(void);
/// Probes around each layer (see CLEFKernels' layerProbe); never inlined.
void clef_layer_begin(void);
void clef_layer_end(void);
/// The layer-boundary callback handed to the engine: closes the last layer window, opens the next.
void fw_layer_probe(int32_t index);
/// One character of output (line-buffered, flushed over semihosting at each newline).
int putchar(int c);
/// Bytes handed out by the heap (posix_memalign) so far, and its peak.
size_t fw_heap_peak(void);
/// Deepest stack use so far in bytes (the stack is painted at start-up).
size_t fw_stack_peak(void);
/// Static RAM (.data + .bss) in bytes.
size_t fw_static_ram(void);
