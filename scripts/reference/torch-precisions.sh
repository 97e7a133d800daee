#!/usr/bin/env bash
# Prints the PyTorch precisions the benchmarks time on this CPU: "fp32 bf16" where the CPU has bf16 instructions
# (avx512_bf16, AMX), where autocast bf16 is PyTorch's fastest setting; "fp32" elsewhere, where PyTorch emulates
# bf16 far slower than its float32 (on an AMD EPYC with AVX2 only, 2026-11-29: 6 Gatys iterations at 256 px had not
# finished after 8 minutes, against 0.9 s per iteration in float32), so float32 is its best setting there.
grep -qE 'avx512_bf16|amx_bf16' /proc/cpuinfo && echo "fp32 bf16" || echo fp32
