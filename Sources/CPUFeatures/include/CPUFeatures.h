#ifndef BACKPROP_CPU_FEATURES_H
#define BACKPROP_CPU_FEATURES_H

/// 1 when this CPU and its operating system give programs 32 vector registers of 512 bits
/// (AVX-512 Foundation, with the OS saving the opmask and zmm state), else 0. The convolution's
/// micro-kernels choose their register blocks by it (Sources/Kernels/MicroKernel.swift).
int backprop_has_512_bit_vectors(void);

#endif
