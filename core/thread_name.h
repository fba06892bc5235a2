#pragma once
// Names the calling thread (at most 15 characters) so `top -H`, `perf` and core dumps tell
// pgcdc's threads apart: the source runs on the main thread ("pgcdc"), the others say what they do.
#include <pthread.h>

namespace pgcdc {

inline void name_this_thread(const char* name) { pthread_setname_np(pthread_self(), name); }

}  // namespace pgcdc
