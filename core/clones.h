/* clones.h - CASK_CLONES: compile a function once per x86-64 level
 * (AVX-512, AVX2, baseline) and let the dynamic loader pick one for the CPU
 * (gcc's target_clones, an ifunc). The same binary thus runs on any x86-64
 * and uses the widest vectors there are. Left out under ThreadSanitizer
 * (ifuncs resolve before its runtime is up) and with clang, whose version
 * in Debian 12 does not accept these target names. */
#ifndef CASK_CORE_CLONES_H
#define CASK_CORE_CLONES_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define CASK_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CASK_CLONES
#endif

#endif
