/* export.h - CASK_API, the mark of every public function. libcask.so is
 * built with -fvisibility=hidden, so it exports exactly what carries the
 * mark; cask's internal functions stay inside and no program can come to
 * depend on them. */
#ifndef CASK_EXPORT_H
#define CASK_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define CASK_API __attribute__((visibility("default")))
#else
#define CASK_API
#endif

#endif
