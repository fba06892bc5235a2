#pragma once
// Clang's thread-safety analysis (-Wthread-safety): which mutex guards a member, which lock a
// function needs. Under clang the macros expand to the attributes and the compiler checks every
// access; under GCC they expand to nothing. scripts/check-thread-safety builds every library with
// clang and -Werror=thread-safety (docs/ARCHITECTURE.md, Threads).
//
// The names are Abseil's and Chromium's without their prefix. std::mutex in libstdc++ carries no
// annotations, so guarded state sits behind pgcdc::Mutex and MutexLock (core/mutex.h).

#if defined(__clang__)
#define PGCDC_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define PGCDC_THREAD_ANNOTATION(x)
#endif

// On a class: its objects are capabilities (a mutex). On a RAII class: it holds one for its scope.
#define CAPABILITY(x) PGCDC_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY PGCDC_THREAD_ANNOTATION(scoped_lockable)

// On a member: read and written only with the mutex held (PT_: the pointee, not the pointer).
#define GUARDED_BY(x) PGCDC_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) PGCDC_THREAD_ANNOTATION(pt_guarded_by(x))

// On a function: the caller must hold the mutex (REQUIRES), must not hold it because the function
// takes it (EXCLUDES), or the function takes or lets go of it for the caller (ACQUIRE, RELEASE).
#define REQUIRES(...) PGCDC_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) PGCDC_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define EXCLUDES(...) PGCDC_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) PGCDC_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) PGCDC_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) PGCDC_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) PGCDC_THREAD_ANNOTATION(assert_capability(x))
#define RETURN_CAPABILITY(x) PGCDC_THREAD_ANNOTATION(lock_returned(x))

// Turns the analysis off for one function. Say why next to it; it is a hole in the check.
#define NO_THREAD_SAFETY_ANALYSIS PGCDC_THREAD_ANNOTATION(no_thread_safety_analysis)
