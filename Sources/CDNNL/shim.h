#include <oneapi/dnnl/dnnl.h>
// oneDNN in Debian is built with OpenMP; its thread count is OpenMP's.
void omp_set_num_threads(int);
int omp_get_max_threads(void);
