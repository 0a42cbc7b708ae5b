// The generic lazy resolvers. A pending lazy stub's target is its own slot's lazy entry, which
// puts the slot's address in r11 / x17 and jumps here. A resolver saves the complete argument
// state, calls stubpool_lazy_dispatch(slot) once (which materializes the pending batch and returns
// the stub's target and context), restores everything and continues the original call into the
// target. Stack arguments and the return address are never touched.
//
// One entry per place a stub kind carries its context, because a pending stub has already done
// its kind's work before reaching its lazy entry (a bindFirstArgument stub has shifted the
// arguments and loaded its pending context into the first one):
//   _static_chain    context stubs: the context goes to r10 / x17 (libffi's closure register);
//   _first_argument  bindFirstArgument stubs: the context replaces rdi / x0;
//   _none            forward stubs: every argument register reaches the target as it arrived.
#if defined(__x86_64__)
// Frame: the saved rbp at rbp, then rdi rsi rdx rcx r8 r9 rax (varargs vector count) r10 r11
// (the slot) at rbp-8 .. rbp-72. `context` is where the continuation's context is stored before
// the registers are restored (empty: nowhere).
.macro LAZY_RESOLVER name, context
    .text
    .globl \name
    .hidden \name
    .type \name, @function
    .p2align 4
\name:
    endbr64
    pushq %rbp
    movq %rsp, %rbp
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
.ifnb \context
    movq %rdx, \context(%rbp)
.endif
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
    .size \name, . - \name
.endm

    LAZY_RESOLVER stubpool_lazy_resolver_static_chain, -64   // r10
    LAZY_RESOLVER stubpool_lazy_resolver_first_argument, -8  // rdi
    LAZY_RESOLVER stubpool_lazy_resolver_none

#elif defined(__aarch64__)
// x0-x7, x8 (indirect result) and q0-q7 are saved. SVE state is not preserved (as in glibc's
// resolver). `context` is the register that receives the continuation's context after the
// restore (x17 is IP1, which the lazy entry has already used for the slot).
// The saved registers and their slots in the frame, written once for the save (`stp`, `str`)
// and the restore (`ldp`, `ldr`).
.macro ARGUMENT_REGISTERS pair, single
    \pair x0, x1, [sp, #0]
    \pair x2, x3, [sp, #16]
    \pair x4, x5, [sp, #32]
    \pair x6, x7, [sp, #48]
    \single x8, [sp, #64]
    \pair q0, q1, [sp, #80]
    \pair q2, q3, [sp, #112]
    \pair q4, q5, [sp, #144]
    \pair q6, q7, [sp, #176]
.endm

.macro LAZY_RESOLVER name, context
    .text
    .globl \name
    .hidden \name
    .type \name, %function
    .p2align 4
\name:
    hint #34                        // bti c
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    sub sp, sp, #208
    ARGUMENT_REGISTERS stp, str
    mov x0, x17                     // the slot
    bl stubpool_lazy_dispatch
    mov x16, x0                     // target
    mov x17, x1                     // context
    ARGUMENT_REGISTERS ldp, ldr
    add sp, sp, #208
    ldp x29, x30, [sp], #16
.ifnb \context
    mov \context, x17
.endif
    br x16
    .size \name, . - \name
.endm

    LAZY_RESOLVER stubpool_lazy_resolver_static_chain    // x17 already holds the context
    LAZY_RESOLVER stubpool_lazy_resolver_first_argument, x0
    LAZY_RESOLVER stubpool_lazy_resolver_none
#endif

    .section .note.GNU-stack,"",%progbits
