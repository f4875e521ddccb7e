/* suite-list.h - the one list of test suites, one per module.
 * X(name): tests/test_<name>.c defines `Suite *name##_suite(void)`. */
#define CASK_TEST_SUITES(X) \
  X(core)                   \
  X(graph)                  \
  X(graph_json)             \
  X(scheduler)              \
  X(scheduler_property)    \
  X(array)                  \
  X(array_map)              \
  X(array_npy)              \
  X(array_structure)        \
  X(array_linalg)           \
  X(array_lapack)           \
  X(array_dtypes)           \
  X(array_zarr)              \
  X(zarr3)                  \
  X(array_store)             \
  X(array_expr)             \
  X(array_shape)            \
  X(array_scan)             \
  X(array_sort)             \
  X(array_select)           \
  X(memory)                 \
  X(hdf5)                   \
  X(distributed)
