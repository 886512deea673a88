// Cortex-M start-up for the mps2 boards (QEMU mps2-an386: M4F, mps2-an500: M7): vector table,
// .data copy, .bss zero, FPU on, stack painting, semihosting output and exit.
#include "include/firmware.h"
#include <string.h>

extern char __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[], __stack_top[];
int32_t clef_firmware_main(void);
void fw_paint_stack(void);

static int semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
void fw_semihost_write0(const char *s) { semihost(0x04, s); }
static void fw_exit(int32_t status) {
    // SYS_EXIT: ADP_Stopped_ApplicationExit (QEMU exits 0) or RunTimeErrorUnknown (exits 1).
    semihost(0x18, (const void *)(uintptr_t)(status == 0 ? 0x20026 : 0x20023));
    for (;;) {}
}

void Reset_Handler(void) {
    memcpy(__data_start, __data_load, (size_t)(__data_end - __data_start));
    memset(__bss_start, 0, (size_t)(__bss_end - __bss_start));
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;   // CPACR: CP10/CP11 full access (FPU)
    __asm__ volatile("dsb\n isb" ::: "memory");
    fw_paint_stack();
    fw_exit(clef_firmware_main());
}
static void Fault_Handler(void) { fw_write("fw: fault\n"); fw_exit(3); }

__attribute__((section(".isr_vector"), used))
static void (*const vectors[16])(void) = {
    (void (*)(void))__stack_top, Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, 0, 0, 0, 0, Fault_Handler, Fault_Handler, 0, Fault_Handler, Fault_Handler,
};
