// The pool behind parallel_for (thread_pool.h). One job runs at a time; its state is one atomic word
// (generation | number of chunks | next chunk to claim), so a thread claims a chunk with one
// compare-and-swap that also proves the job is still the one it saw: a thread that wakes late can
// never take a chunk of a newer job. The job's other fields are read only after a valid claim, when
// the caller cannot have moved on (it waits for every chunk).
#include "tensor/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KVLINK_PAUSE() _mm_pause()
#else
#define KVLINK_PAUSE() std::this_thread::yield()
#endif

namespace kvlink {

namespace {

constexpr int kCountBits = 20;                        // chunks per job < 2^20
constexpr uint64_t kCountMask = (uint64_t{1} << kCountBits) - 1;
constexpr uint64_t kGenMask = (uint64_t{1} << (64 - 2 * kCountBits)) - 1;
constexpr auto kIdleSpin = std::chrono::microseconds(300);  // an idle thread spins this long, then sleeps
constexpr int kCallerSpins = 2000;                    // the caller's pauses before it yields its core

uint64_t gen_of(uint64_t w) { return w >> (2 * kCountBits); }
uint64_t count_of(uint64_t w) { return (w >> kCountBits) & kCountMask; }
uint64_t next_of(uint64_t w) { return w & kCountMask; }
uint64_t pack(uint64_t gen, uint64_t count) { return (gen & kGenMask) << (2 * kCountBits) | count << kCountBits; }

thread_local bool t_in_pool = false;  // this thread is running a chunk (or is a pool thread)

// Backs off to the caller alone while another program holds the cores. Two signs, taken over a
// window of jobs run with every thread: the caller itself got less than kMinShare of a core (with
// its helpers counted as runnable, the scheduler shares the cores among more threads than there are
// cores, and a helper that runs while the caller is off can only spin), or, twice, the caller waited
// far longer than a chunk takes for a chunk another thread held (that thread was descheduled inside
// it). Then the next jobs run on the caller alone, leaving the other cores to whoever needs them,
// and a window with every thread probes again; each failed probe doubles the pause.
class Contention {
 public:
  bool serial() {
    if (serial_left_ == 0) return false;
    --serial_left_;
    return true;
  }
  void record(double own_seconds, int64_t own_chunks, double wait_seconds) {
    const double chunk = own_chunks > 0 ? own_seconds / static_cast<double>(own_chunks) : 0.0;
    if (wait_seconds > kStallSeconds + 4 * chunk) ++stalls_;
    const std::thread::id caller = std::this_thread::get_id();
    if (jobs_ == 0 || caller != caller_) return start_window(caller);
    if (++jobs_ < kWindow) return;
    const double wall = seconds_since(wall_start_, CLOCK_MONOTONIC);
    const double cpu = seconds_since(cpu_start_, CLOCK_THREAD_CPUTIME_ID);
    if (stalls_ >= 2 || cpu < kMinShare * wall) {
      serial_left_ = pause_;
      pause_ = std::min(2 * pause_, kMaxPause);
    } else {
      pause_ = kMinPause;
    }
    jobs_ = 0;
  }

 private:
  static constexpr double kStallSeconds = 200e-6;
  static constexpr double kMinShare = 0.8;
  static constexpr int kWindow = 256;
  static constexpr int64_t kMinPause = 2048, kMaxPause = 16384;  // jobs (decoding runs ~300 a token)

  static double now(clockid_t clock) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  }
  static double seconds_since(double start, clockid_t clock) { return now(clock) - start; }
  void start_window(std::thread::id caller) {
    caller_ = caller;
    jobs_ = 1;
    stalls_ = 0;
    wall_start_ = now(CLOCK_MONOTONIC);
    cpu_start_ = now(CLOCK_THREAD_CPUTIME_ID);
  }

  int jobs_ = 0, stalls_ = 0;
  std::thread::id caller_;
  double wall_start_ = 0, cpu_start_ = 0;
  int64_t serial_left_ = 0, pause_ = kMinPause;
};

class Pool {
 public:
  void run(int n_threads, int64_t n, int64_t grain, RangeFn fn, void* ctx);

 private:
  int64_t claim(uint64_t gen);
  int64_t run_chunks(uint64_t gen, int worker);
  uint64_t wait_for_job(uint64_t seen_gen);
  void thread_main(int worker, uint64_t seen_gen);
  void publish(uint64_t word);
  void wait_done(int64_t n_chunks);

  std::atomic<uint64_t> word_{0};
  std::atomic<int64_t> done_{0};
  std::atomic<int> limit_{0};          // workers 0 .. limit_-1 take part in the current job
  std::atomic<bool> failed_{false};
  RangeFn fn_ = nullptr;               // fn_, ctx_, n_, grain_: stable while a chunk is unfinished
  void* ctx_ = nullptr;
  int64_t n_ = 0, grain_ = 1;
  std::exception_ptr error_;
  std::mutex error_mutex_, dispatch_, sleep_mutex_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
  int n_spawned_ = 0;                  // guarded by dispatch_, as contention_
  Contention contention_;
};

// Index of the next unclaimed chunk of job `gen`, or -1 when there is none (or the job is over).
int64_t Pool::claim(uint64_t gen) {
  uint64_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    if (gen_of(w) != gen || next_of(w) >= count_of(w)) return -1;
    if (word_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      return static_cast<int64_t>(next_of(w));
    }
  }
}

// Runs chunks of job `gen` until none is left; returns how many this thread ran.
int64_t Pool::run_chunks(uint64_t gen, int worker) {
  int64_t ran = 0;
  for (int64_t c; (c = claim(gen)) >= 0; ++ran) {
    if (!failed_.load(std::memory_order_relaxed)) {
      try {
        fn_(ctx_, c * grain_, std::min(n_, (c + 1) * grain_), worker);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
        failed_.store(true, std::memory_order_relaxed);
      }
    }
    done_.fetch_add(1, std::memory_order_release);
  }
  return ran;
}

// Spins briefly for a job newer than `seen_gen`, then sleeps until one is published.
uint64_t Pool::wait_for_job(uint64_t seen_gen) {
  const auto until = std::chrono::steady_clock::now() + kIdleSpin;
  for (int i = 0;; ++i) {
    const uint64_t w = word_.load(std::memory_order_acquire);
    if (gen_of(w) != seen_gen) return w;
    KVLINK_PAUSE();
    if (i % 256 == 255 && std::chrono::steady_clock::now() > until) break;
  }
  std::unique_lock<std::mutex> lock(sleep_mutex_);
  sleepers_.fetch_add(1);
  uint64_t w;
  wake_.wait(lock, [&] { return gen_of(w = word_.load()) != seen_gen; });
  sleepers_.fetch_sub(1);
  return w;
}

void Pool::thread_main(int worker, uint64_t seen_gen) {
  t_in_pool = true;
  for (;;) {
    seen_gen = gen_of(wait_for_job(seen_gen));
    if (worker < limit_.load(std::memory_order_relaxed)) run_chunks(seen_gen, worker);
  }
}

// Makes `word` the current job and wakes sleeping threads (seq_cst on both sides: a thread either
// sees the new word before it sleeps or is counted in sleepers_ here).
void Pool::publish(uint64_t word) {
  word_.store(word);
  if (sleepers_.load() > 0) {
    { std::lock_guard<std::mutex> lock(sleep_mutex_); }
    wake_.notify_all();
  }
}

// Waits for the chunks other threads still hold: spins, then yields the core to them.
void Pool::wait_done(int64_t n_chunks) {
  for (int i = 0; done_.load(std::memory_order_acquire) < n_chunks; ++i) {
    if (i < kCallerSpins) {
      KVLINK_PAUSE();
    } else {
      std::this_thread::yield();
    }
  }
}

void Pool::run(int n_threads, int64_t n, int64_t grain, RangeFn fn, void* ctx) {
  std::unique_lock<std::mutex> lock(dispatch_, std::try_to_lock);
  if (!lock.owns_lock() || contention_.serial()) return fn(ctx, 0, n, 0);  // another loop runs, or backing off
  const int64_t n_chunks = std::min<int64_t>((n + grain - 1) / grain, static_cast<int64_t>(kCountMask));
  grain = (n + n_chunks - 1) / n_chunks;
  const uint64_t previous = gen_of(word_.load());
  const uint64_t gen = (previous + 1) & kGenMask;
  for (; n_spawned_ < n_threads - 1; ++n_spawned_) {
    std::thread([this, w = n_spawned_ + 1, previous] { thread_main(w, previous); }).detach();
  }
  fn_ = fn;
  ctx_ = ctx;
  n_ = n;
  grain_ = grain;
  error_ = nullptr;
  failed_.store(false, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  limit_.store(n_threads, std::memory_order_relaxed);
  publish(pack(gen, static_cast<uint64_t>(n_chunks)));
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  t_in_pool = true;
  const int64_t own = run_chunks(gen, 0);
  t_in_pool = false;
  const auto t1 = Clock::now();
  wait_done(n_chunks);
  contention_.record(std::chrono::duration<double>(t1 - t0).count(), own,
                     std::chrono::duration<double>(Clock::now() - t1).count());
  if (error_) std::rethrow_exception(error_);
}

Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: its detached threads may outlive static destruction
  return *p;
}

}  // namespace

void parallel_for_range(int n_threads, int64_t n, int64_t grain, RangeFn fn, void* ctx) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  if (n_threads <= 1 || n <= grain || t_in_pool) return fn(ctx, 0, n, 0);
  pool().run(n_threads, n, grain, fn, ctx);
}

}  // namespace kvlink
