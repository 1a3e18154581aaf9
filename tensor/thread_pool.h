// The kernels' threads: one process-wide pool whose parallel_for splits [0, n) into chunks that any
// participating thread claims, the calling thread included. The call returns when every chunk is
// done, not when every thread has arrived: a thread that another process has descheduled before it
// claimed a chunk delays nothing; one descheduled inside a chunk holds the loop until it is back to
// finish that chunk (the back-off below stops that from repeating).
// Idle threads spin briefly for the next loop (decoding starts one every few tens of microseconds),
// then sleep. When another program holds the cores (the caller gets less than its share of a core,
// or waits for chunks of descheduled threads), loops run on the caller alone for a while, so that
// two busy processes share the machine instead of each waiting for its own preempted threads.
//
// The work each item gets never depends on which thread runs it, so results are identical for any
// thread count. A thread is named by a worker index in [0, n_threads) (the caller is 0), unique
// among the threads running one loop: per-thread scratch buffers are indexed by it.
// A loop started from inside a chunk, or while another thread's loop runs, runs on the caller alone.
#pragma once
#include <cstdint>
#include <type_traits>

namespace kvlink {

// fn(ctx, begin, end, worker) runs items [begin, end).
using RangeFn = void (*)(void* ctx, int64_t begin, int64_t end, int worker);

// Runs fn over [0, n) in chunks of `grain` items (the last may be shorter) on up to n_threads
// threads. Serial when n_threads <= 1 or n <= grain. The first exception thrown by a chunk is
// rethrown here after every claimed chunk has finished; unclaimed chunks are then skipped.
void parallel_for_range(int n_threads, int64_t n, int64_t grain, RangeFn fn, void* ctx);

// The same with any callable f(begin, end, worker).
template <class F>
void parallel_for(int n_threads, int64_t n, int64_t grain, F&& f) {
  using Fn = std::remove_reference_t<F>;
  parallel_for_range(n_threads, n, grain,
                     [](void* c, int64_t b, int64_t e, int w) { (*static_cast<Fn*>(c))(b, e, w); },
                     const_cast<void*>(static_cast<const void*>(&f)));
}

// Per-item form: f(i, worker) for i in [0, n).
template <class F>
void parallel_for_each(int n_threads, int64_t n, int64_t grain, F&& f) {
  parallel_for(n_threads, n, grain, [&f](int64_t b, int64_t e, int w) {
    for (int64_t i = b; i < e; ++i) f(i, w);
  });
}

}  // namespace kvlink
