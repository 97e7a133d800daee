#include <oneapi/dnnl/dnnl.h>

// oneDNN in Debian is built with OpenMP; its thread count is OpenMP's.
void omp_set_num_threads(int);
int omp_get_max_threads(void);
// OpenMP's fork-join (what `#pragma omp parallel` compiles to in GCC), so that the loops stylize runs outside oneDNN
// run on the threads its primitives use: another pool's threads would share the cores with OpenMP's, which spin for
// a while after every primitive.
void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
int omp_get_thread_num(void);
int omp_get_num_threads(void);

// Macros that Swift cannot import (they expand to other macros or to casts).
static const int STYLIZE_ARG_SRC = DNNL_ARG_SRC;
static const int STYLIZE_ARG_DST = DNNL_ARG_DST;
static const int STYLIZE_ARG_WEIGHTS = DNNL_ARG_WEIGHTS;
static const int STYLIZE_ARG_BIAS = DNNL_ARG_BIAS;
static const int STYLIZE_ARG_WORKSPACE = DNNL_ARG_WORKSPACE;
static const int STYLIZE_ARG_DIFF_SRC = DNNL_ARG_DIFF_SRC;
static const int STYLIZE_ARG_DIFF_DST = DNNL_ARG_DIFF_DST;
static const int STYLIZE_ARG_DIFF_WEIGHTS = DNNL_ARG_DIFF_WEIGHTS;
static const int STYLIZE_ARG_DIFF_BIAS = DNNL_ARG_DIFF_BIAS;
static const int STYLIZE_ARG_FROM = DNNL_ARG_FROM;
static const int STYLIZE_ARG_TO = DNNL_ARG_TO;
static const int STYLIZE_ARG_SCRATCHPAD = DNNL_ARG_SCRATCHPAD;
static inline void *stylize_memory_allocate(void) { return DNNL_MEMORY_ALLOCATE; }


// glibc's allocator knobs (DNNL.keepFreedMemory).
#if defined(__linux__)
#include <malloc.h>
#endif
