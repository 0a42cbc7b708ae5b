// The generic lazy resolver. A pending lazy stub's target is its own slot's lazy entry, which
// puts the slot's address in r11 / x17 and jumps here. The resolver saves the complete argument
// state, calls stubpool_lazy_dispatch(slot) once (which materializes the pending batch and returns
// the stub's target and context), restores everything and continues the original call into the
// target with the context in the context register (r10 / x17). Stack arguments and the return
// address are never touched.

#if defined(__x86_64__)
    .text
    .globl stubpool_lazy_resolver
    .hidden stubpool_lazy_resolver
    .type stubpool_lazy_resolver, @function
    .p2align 4
stubpool_lazy_resolver:
    endbr64
    pushq %rbp
    movq %rsp, %rbp
    // Integer argument registers, rax (varargs vector count), r10, r11 (the slot): rbp-8 .. rbp-72.
    pushq %rdi
    pushq %rsi
    pushq %rdx
    pushq %rcx
    pushq %r8
    pushq %r9
    pushq %rax
    pushq %r10
    pushq %r11
    // Vector state: callers may arrive at any alignment; the area must be 64-byte aligned.
    andq $-64, %rsp
    subq stubpool_vector_state_size(%rip), %rsp
    xorl %eax, %eax
    .irp offset, 512, 520, 528, 536, 544, 552, 560, 568
    movq %rax, \offset(%rsp)        // the XSAVE header must start zeroed
    .endr
    movl stubpool_vector_state_mask(%rip), %eax
    movl stubpool_vector_state_mask+4(%rip), %edx
    cmpb $2, stubpool_vector_state_kind(%rip)
    je 1f
    cmpb $1, stubpool_vector_state_kind(%rip)
    je 2f
    fxsave64 (%rsp)
    jmp 3f
1:  xsavec64 (%rsp)
    jmp 3f
2:  xsave64 (%rsp)
3:
    movq -72(%rbp), %rdi            // the slot
    call stubpool_lazy_dispatch
    movq %rax, -72(%rbp)            // r11 := target
    movq %rdx, -64(%rbp)            // r10 := context
    movl stubpool_vector_state_mask(%rip), %eax
    movl stubpool_vector_state_mask+4(%rip), %edx
    cmpb $0, stubpool_vector_state_kind(%rip)
    je 4f
    xrstor64 (%rsp)
    jmp 5f
4:  fxrstor64 (%rsp)
5:
    leaq -72(%rbp), %rsp
    popq %r11
    popq %r10
    popq %rax
    popq %r9
    popq %r8
    popq %rcx
    popq %rdx
    popq %rsi
    popq %rdi
    popq %rbp
    jmp *%r11

#elif defined(__aarch64__)
    .text
    .globl stubpool_lazy_resolver
    .hidden stubpool_lazy_resolver
    .type stubpool_lazy_resolver, %function
    .p2align 4
stubpool_lazy_resolver:
    hint #34                        // bti c
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    // x0-x7, x8 (indirect result) and q0-q7. SVE state is not preserved (as in glibc's resolver).
    sub sp, sp, #208
    stp x0, x1, [sp, #0]
    stp x2, x3, [sp, #16]
    stp x4, x5, [sp, #32]
    stp x6, x7, [sp, #48]
    str x8, [sp, #64]
    stp q0, q1, [sp, #80]
    stp q2, q3, [sp, #112]
    stp q4, q5, [sp, #144]
    stp q6, q7, [sp, #176]
    mov x0, x17                     // the slot
    bl stubpool_lazy_dispatch
    mov x16, x0                     // target
    mov x17, x1                     // context
    ldp q6, q7, [sp, #176]
    ldp q4, q5, [sp, #144]
    ldp q2, q3, [sp, #112]
    ldp q0, q1, [sp, #80]
    ldr x8, [sp, #64]
    ldp x6, x7, [sp, #48]
    ldp x4, x5, [sp, #32]
    ldp x2, x3, [sp, #16]
    ldp x0, x1, [sp, #0]
    add sp, sp, #208
    ldp x29, x30, [sp], #16
    br x16
#endif

    .section .note.GNU-stack,"",%progbits
