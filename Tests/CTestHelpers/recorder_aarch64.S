// Register recorder and context-register reader for the tests (AArch64, AAPCS64). Built into the
// emulated AArch64 harness; empty on other architectures.
#if defined(__aarch64__)
    .text
    .globl ct_return_context_register
    .type ct_return_context_register, %function
    .p2align 4
ct_return_context_register:
    bti c
    mov x0, x17
    ret

    // Layout: struct ct_register_record in ctesthelpers.h (x0-x5, x6, x17, q0-q7, x30,
    // 16 stack words, x7, x8).
    .globl ct_recorder
    .type ct_recorder, %function
    .p2align 4
ct_recorder:
    bti c
    adrp x16, ct_record_storage
    add x16, x16, :lo12:ct_record_storage
    stp x0, x1, [x16, #0]
    stp x2, x3, [x16, #16]
    stp x4, x5, [x16, #32]
    stp x6, x17, [x16, #48]
    stp q0, q1, [x16, #64]
    stp q2, q3, [x16, #96]
    stp q4, q5, [x16, #128]
    stp q6, q7, [x16, #160]
    str x30, [x16, #192]
    .irp i, 0,2,4,6,8,10,12,14
    ldp x9, x10, [sp, #8*\i]
    stp x9, x10, [x16, #200+8*\i]
    .endr
    stp x7, x8, [x16, #328]
    // Return values derived from the arguments.
    eor x0, x0, x1
    mov x1, x2
    mov v16.16b, v0.16b
    mov v0.16b, v1.16b
    mov v1.16b, v16.16b
    ret

    // void ct_call_with_registers(const void *fn, const struct ct_register_record *in):
    // loads x0-x8, x17, q0-q7 and 16 stack words from `in`, calls fn through x16.
    .globl ct_call_with_registers
    .type ct_call_with_registers, %function
    .p2align 4
ct_call_with_registers:
    bti c
    stp x29, x30, [sp, #-32]!
    mov x29, sp
    str x19, [sp, #16]
    sub sp, sp, #128
    mov x16, x0
    mov x19, x1
    .irp i, 0,2,4,6,8,10,12,14
    ldp x9, x10, [x19, #200+8*\i]
    stp x9, x10, [sp, #8*\i]
    .endr
    ldp q0, q1, [x19, #64]
    ldp q2, q3, [x19, #96]
    ldp q4, q5, [x19, #128]
    ldp q6, q7, [x19, #160]
    ldp x7, x8, [x19, #328]
    ldp x6, x17, [x19, #48]
    ldp x4, x5, [x19, #32]
    ldp x2, x3, [x19, #16]
    ldp x0, x1, [x19, #0]
    blr x16
    add sp, sp, #128
    ldr x19, [sp, #16]
    ldp x29, x30, [sp], #32
    ret
#endif

    .section .note.GNU-stack,"",%progbits
