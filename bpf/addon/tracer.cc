// The lab's libbpf binding: loads the BPF objects (sharing their maps),
// attaches uprobes/uretprobes/BTF tracepoints as bpf_links (they vanish with
// the process), and drains the ring buffer from a libuv poll handle in
// batches, so the event loop never blocks and one JS call carries many events.
// JS reads each batch in place, in the ring buffer's own pages: the addon maps
// the ring (as libbpf does) and hands JS one ArrayBuffer over its data area,
// then the batch's bounds; the records' space goes back to the kernel only
// once JS has returned. No copy, no allocation per record.
// Detaching waits for the kernel (~100 ms a uprobe link), so links are
// destroyed on a thread of their own, never on the loop.
#include <napi.h>
#include <v8.h>
#include <uv.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <linux/bpf.h>
#include <linux/types.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "events.h"

namespace {

// libbpf's own messages (verifier log, attach failures): kept for the next
// error instead of printed, so a failure reads as one line plus its reason.
std::string libbpf_log;
std::mutex libbpf_log_lock;  // detaching threads may log too

int capture_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  va_list again;
  va_copy(again, args);
  int n = vsnprintf(nullptr, 0, fmt, again);
  va_end(again);
  if (n <= 0) return n;
  std::string line(n + 1, '\0');
  vsnprintf(line.data(), line.size(), fmt, args);
  line.resize(n);
  std::lock_guard<std::mutex> hold(libbpf_log_lock);
  libbpf_log += line;
  if (libbpf_log.size() > 16384) libbpf_log.erase(0, libbpf_log.size() - 16384);
  return n;
}

Napi::Error bpf_error(Napi::Env env, const std::string &what, int err) {
  if (err < 0) err = -err;
  std::string msg = what + ": " + strerror(err);
  auto e = Napi::Error::New(env, msg);
  e.Set("errno", Napi::Number::New(env, err));
  std::lock_guard<std::mutex> hold(libbpf_log_lock);
  e.Set("libbpfLog", Napi::String::New(env, libbpf_log));
  libbpf_log.clear();
  return e;
}

// A link: libbpf's (perf-event uprobes, tracing programs), or the fd of a
// uprobe_multi link made by the syscall (libbpf 1.1 predates uprobe_multi).
struct Link {
  bpf_link *link = nullptr;
  int fd = -1;
  void Destroy() {
    if (link) bpf_link__destroy(link);
    if (fd >= 0) close(fd);
  }
};

// The kernel serialises uprobe unregistration (~100 ms a link on 6.18, the
// same with 64 threads at once: measured), so one thread per tracer detaches,
// off the event loop and off libuv's thread pool (which fs and dns share).
class Detacher {
 public:
  explicit Detacher(uv_loop_t *loop) {
    async_ = new uv_async_t;
    uv_async_init(loop, async_, &Detacher::OnDone);
    async_->data = this;
    uv_unref(reinterpret_cast<uv_handle_t *>(async_));
    thread_ = std::thread([this] { Run(); });
  }

  // The promise resolves on the loop once every link of the batch is gone.
  void Submit(std::vector<Link> links, Napi::Promise::Deferred deferred) {
    std::lock_guard<std::mutex> hold(lock_);
    uint64_t id = next_++;
    pending_.emplace(id, std::move(deferred));
    // Someone awaits the detach: Node stays up until the kernel has let go.
    uv_ref(reinterpret_cast<uv_handle_t *>(async_));
    work_.push_back({id, std::move(links)});
    wake_.notify_one();
  }

  // Finishes the queued work (none, when JS awaited its promises), then stops.
  void Stop() {
    {
      std::lock_guard<std::mutex> hold(lock_);
      stopping_ = true;
      wake_.notify_one();
    }
    thread_.join();
    uv_close(reinterpret_cast<uv_handle_t *>(async_), [](uv_handle_t *h) { delete reinterpret_cast<uv_async_t *>(h); });
    // Left unsettled: JS awaits its detaches before it closes the tracer, and a
    // finalizer (the only other caller) may not run JavaScript.
    pending_.clear();
  }

 private:
  struct Batch {
    uint64_t id;
    std::vector<Link> links;
  };
  std::thread thread_;
  std::mutex lock_;
  std::condition_variable wake_;
  std::vector<Batch> work_;
  std::vector<uint64_t> done_;
  std::map<uint64_t, Napi::Promise::Deferred> pending_;  // touched on the loop only
  uint64_t next_ = 1;
  bool stopping_ = false;
  uv_async_t *async_ = nullptr;

  // uprobe_multi links release without the lock perf-event uprobes take, so
  // their grace periods overlap: many at once cost about one.
 public:
  static void DestroyAll(std::vector<Link> &links) {
    std::vector<Link> perf, multi;
    for (auto &l : links) (l.fd >= 0 ? multi : perf).push_back(l);
    std::vector<std::thread> pool;
    constexpr size_t kThreads = 32;
    size_t n = std::min(kThreads, multi.size());
    for (size_t t = 0; t < n; t++) {
      pool.emplace_back([&multi, t, n] {
        for (size_t i = t; i < multi.size(); i += n) multi[i].Destroy();
      });
    }
    for (auto &l : perf) l.Destroy();
    for (auto &th : pool) th.join();
  }


 private:
  void Run() {
    std::unique_lock<std::mutex> hold(lock_);
    for (;;) {
      wake_.wait(hold, [this] { return stopping_ || !work_.empty(); });
      if (work_.empty()) return;
      // Everything queued goes at once: closes that arrive together overlap in the kernel.
      std::vector<Batch> batches;
      batches.swap(work_);
      hold.unlock();
      std::vector<Link> all;
      for (auto &b : batches) all.insert(all.end(), b.links.begin(), b.links.end());
      DestroyAll(all);
      hold.lock();
      for (auto &b : batches) done_.push_back(b.id);
      uv_async_send(async_);
    }
  }

  static void OnDone(uv_async_t *h) {
    auto *self = static_cast<Detacher *>(h->data);
    std::vector<uint64_t> done;
    {
      std::lock_guard<std::mutex> hold(self->lock_);
      done.swap(self->done_);
    }
    if (done.empty()) return;
    Napi::Env env = self->pending_.begin()->second.Env();
    Napi::HandleScope scope(env);
    for (auto id : done) {
      auto it = self->pending_.find(id);
      if (it == self->pending_.end()) continue;
      auto deferred = std::move(it->second);
      self->pending_.erase(it);
      deferred.Resolve(env.Undefined());
    }
    // Idle again: an idle tracer never keeps Node alive.
    if (self->pending_.empty()) uv_unref(reinterpret_cast<uv_handle_t *>(h));
  }
};

// Each batch's events, copied out of the ring as it is scanned into a block of 8-byte slots that JS
// reads (bpf/ts/session.ts, probes.ts): the events stay valid after the kernel reuses the ring's
// space, and JS makes a raw event from a few slots instead of reading a dozen fields across four
// of the record's lines. A record's slots (bpf/ts/event-block.ts says the same):
//   0 ts_ns, 1 latency_ns, 2 goroutine, 3 goid (doubles: exact below 2^53)
//   4 pid, tid; 5 entry_tid, ret_site; 6 kind, counts; 7 probe_id, the record's offset in the ring
//     (int32 pairs; counts = nargs | nrets << 8 | has_latency << 16 | has_str << 17; an entry has
//     no return registers)
//   8 deref (its 64 bits)
//   9… the entry's registers, then the return's (doubles, signed as Go's ints)
// A block's memory is kept here and reused once V8 has collected its ArrayBuffer: fresh memory
// from the allocator faulted its pages in (and zeroed them) for every block, and a free list that
// only a finalizer on the JS thread refilled ran dry while a backlog was drained (finalizers wait
// for the event loop): the backing store's deleter gives the block back as soon as the GC frees it,
// from whichever thread does.
constexpr size_t kBlockBytes = 64 << 10;
// The blocks of the events made between two scavenges come back together after the second: ~200
// at millions of events a second (~10 MiB). Kept while events flow, let go when they stop.
constexpr size_t kBlocksKept = 512;
constexpr size_t kBlocksKeptIdle = 4;
constexpr uint32_t kFixedSlots = 9;
// Never destroyed: V8 may free the last blocks while the process exits, after static destructors.
std::mutex &blocks_mutex = *new std::mutex;
std::vector<void *> &free_blocks = *new std::vector<void *>;

void *TakeBlock() {
  {
    std::lock_guard<std::mutex> lock(blocks_mutex);
    if (!free_blocks.empty()) {
      void *b = free_blocks.back();
      free_blocks.pop_back();
      return b;
    }
  }
  return std::malloc(kBlockBytes);
}

void GiveBackBlock(void *block, size_t, void *) {
  {
    std::lock_guard<std::mutex> lock(blocks_mutex);
    if (free_blocks.size() < kBlocksKept) {
      free_blocks.push_back(block);
      return;
    }
  }
  std::free(block);
}

// Events stopped: the free blocks beyond a few go back to the allocator.
void TrimBlocks() {
  std::vector<void *> extra;
  {
    std::lock_guard<std::mutex> lock(blocks_mutex);
    while (free_blocks.size() > kBlocksKeptIdle) {
      extra.push_back(free_blocks.back());
      free_blocks.pop_back();
    }
  }
  for (void *b : extra) std::free(b);
}

void FreeSmallBlock(void *block, size_t, void *) { std::free(block); }

// The block as an ArrayBuffer (in the caller's handle scope), `used` bytes of it written. A batch
// that filled a small part of it (events arriving a few at a time) gets a copy of its own, that
// size: an event a reader keeps keeps its batch's block, and a notebook keeping every event of a
// slow probe kept 64 KiB for each. Through V8 itself: N-API's external buffers call their
// finalizer from the event loop, later.
Napi::Value BlockBuffer(Napi::Env env, void *block, size_t used) {
  v8::Isolate *isolate = v8::Isolate::GetCurrent();
  std::unique_ptr<v8::BackingStore> store;
  void *small = used < kBlockBytes / 8 ? std::malloc(std::max<size_t>(used, 8)) : nullptr;
  if (small) {
    std::memcpy(small, block, used);
    GiveBackBlock(block, kBlockBytes, nullptr);
    store = v8::ArrayBuffer::NewBackingStore(small, used, FreeSmallBlock, nullptr);
  } else {
    store = v8::ArrayBuffer::NewBackingStore(block, kBlockBytes, GiveBackBlock, nullptr);
  }
  v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, std::move(store));
  // A napi_value is a v8::Local's slot (node's v8impl::JsValueFromV8LocalValue).
  return Napi::Value(env, reinterpret_cast<napi_value>(*buffer));
}

// Writes one record's slots at `slot` (room checked by the caller); returns the slots it took.
uint32_t CompactRecord(const lab_event *e, uint32_t at, uint8_t *block, uint32_t slot) {
  double *f = reinterpret_cast<double *>(block) + slot;
  int32_t *i = reinterpret_cast<int32_t *>(block) + 2 * slot;
  const uint32_t nargs = std::min<uint32_t>(e->nargs, LAB_MAX_REGS);
  const uint32_t nrets = e->kind == LAB_ENTRY ? 0 : std::min<uint32_t>(e->nrets, LAB_MAX_REGS);
  f[0] = static_cast<double>(e->ts_ns);
  f[1] = static_cast<double>(e->latency_ns);
  f[2] = static_cast<double>(e->goroutine);
  f[3] = static_cast<double>(e->goid);
  i[8] = static_cast<int32_t>(e->pid);
  i[9] = static_cast<int32_t>(e->tid);
  i[10] = static_cast<int32_t>(e->entry_tid);
  i[11] = e->ret_site;
  i[12] = static_cast<int32_t>(e->kind);
  i[13] = static_cast<int32_t>(nargs | nrets << 8 | (e->has_latency ? 1u << 16 : 0) | (e->has_str ? 1u << 17 : 0));
  i[14] = static_cast<int32_t>(e->probe_id);
  i[15] = static_cast<int32_t>(at);
  std::memcpy(f + 8, &e->deref, 8);
  for (uint32_t k = 0; k < nargs; k++) f[kFixedSlots + k] = static_cast<double>(e->args[k]);
  for (uint32_t k = 0; k < nrets; k++) f[kFixedSlots + nargs + k] = static_cast<double>(e->ret[k]);
  return kFixedSlots + nargs + nrets;
}

class Tracer : public Napi::ObjectWrap<Tracer> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "Tracer", {
      InstanceMethod("attachUprobe", &Tracer::AttachUprobe),
      InstanceMethod("attachTracing", &Tracer::AttachTracing),
      InstanceMethod("detach", &Tracer::Detach),
      InstanceMethod("detachAsync", &Tracer::DetachAsync),
      InstanceMethod("attachUprobeMulti", &Tracer::AttachUprobeMulti),
      InstanceAccessor("uprobeMulti", &Tracer::UprobeMulti, nullptr),
      InstanceMethod("clearDrops", &Tracer::ClearDrops),
      InstanceMethod("drain", &Tracer::Drain),
      InstanceMethod("drops", &Tracer::Drops),
      InstanceMethod("watch", &Tracer::Watch),
      InstanceMethod("configure", &Tracer::Configure),
      InstanceMethod("ref", &Tracer::Ref),
      InstanceMethod("close", &Tracer::Close),
      InstanceMethod("programIds", &Tracer::ProgramIds),
    });
    exports.Set("Tracer", ctor);
    return exports;
  }

  // new Tracer(objectPaths: string[], onEvents: (ring: ArrayBuffer, start: number, end: number) => void)
  Tracer(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Tracer>(info) {
    Napi::Env env = info.Env();
    libbpf_set_print(capture_libbpf_print);
    auto paths = info[0].As<Napi::Array>();
    on_events_ = Napi::Persistent(info[1].As<Napi::Function>());
    try {
      for (uint32_t i = 0; i < paths.Length(); i++) Load(env, paths.Get(i).As<Napi::String>().Utf8Value());
      // The same uprobe programs once more, as uprobe_multi programs (a program is one or the
      // other); a kernel without uprobe_multi (before 6.6) keeps the perf-event links.
      multi_ = true;
      for (uint32_t i = 0; i < paths.Length() && multi_; i++) multi_ = LoadMulti(paths.Get(i).As<Napi::String>().Utf8Value());
      libbpf_log.clear();
      int rb_fd = shared_maps_.count("lab_events") ? shared_maps_["lab_events"] : -1;
      if (rb_fd < 0) throw Napi::Error::New(env, "no lab_events ring buffer in the BPF objects");
      MapRing(env, rb_fd);
      uv_loop_t *loop = nullptr;
      napi_get_uv_event_loop(env, &loop);
      poll_ = new uv_poll_t;
      // The ring buffer map's fd is pollable itself: readable while records wait.
      int err = uv_poll_init(loop, poll_, rb_fd);
      if (err) {
        delete poll_;
        poll_ = nullptr;
        throw Napi::Error::New(env, std::string("cannot poll the ring buffer: ") + uv_strerror(err));
      }
      poll_->data = this;
      uv_poll_start(poll_, UV_READABLE, &Tracer::OnReadable);
      uv_unref(reinterpret_cast<uv_handle_t *>(poll_));  // an idle tracer never keeps Node alive
      // The programs wake us only once much is waiting (bpf/maps.h); a timer
      // brings the rest. Here rather than in JS: from a libuv callback each
      // batch's readers run (microtasks) before the next batch is decoded.
      flush_ = new uv_timer_t;
      uv_timer_init(loop, flush_);
      flush_->data = this;
      uv_timer_start(flush_, &Tracer::OnFlushTimer, kFlushMs, kFlushMs);
      uv_unref(reinterpret_cast<uv_handle_t *>(flush_));
      detacher_ = new Detacher(loop);
    } catch (...) {
      Release();
      throw;
    }
  }

  ~Tracer() override { Release(); }

 private:
  std::vector<bpf_object *> objects_;
  std::map<std::string, int> shared_maps_;  // name -> fd of the first object's map
  std::map<int, Link> links_;
  std::vector<bpf_object *> multi_objects_;  // the uprobe programs again, loaded for uprobe_multi links
  bool multi_ = false;
  int next_link_ = 1;
  uv_poll_t *poll_ = nullptr;
  uv_timer_t *flush_ = nullptr;
  Detacher *detacher_ = nullptr;
  static constexpr uint64_t kFlushMs = 10;
  // Flush periods without a record (10 s) before the event blocks kept for a flow are let go: a
  // pause between bursts keeps them warm.
  static constexpr int kIdleTicks = 1000;
  int idle_ticks_ = 0;
  // A batch is about the wake-up threshold (bpf/maps.h): small enough that
  // its events are read, and die young in V8, before the next batch is
  // decoded (whole-ring batches made every event survive a GC).
  static constexpr uint64_t kBatchBytes = 256 << 10;
  // Prefetch while a batch is copied: the record this far on (~6 records of one register each side,
  // 312 bytes), this many bytes of it. Copying a record waited 70 ns for its lines without; ~27 ns
  // with (1024 bytes on: ~40).
  static constexpr uint64_t kPrefetchAhead = 2048;
  static constexpr uint64_t kPrefetchSpan = 320;
  // The ring, mapped as libbpf maps it (kernel/bpf/ringbuf.c): the consumer
  // position's page read-write, then the producer position's page and the
  // data area, mapped twice in a row so that no record wraps, read-only.
  size_t page_size_ = 0;
  uint64_t ring_size_ = 0;  // the data area, a power of 2
  uint64_t *consumer_pos_ = nullptr;
  uint8_t *producer_page_ = nullptr;
  uint8_t *data_ = nullptr;
  // JS's view of the data area (both mappings): records are read through it in place.
  Napi::Reference<Napi::ArrayBuffer> ring_ref_;
  bool delivering_ = false;
  Napi::FunctionReference on_events_;
  bool closed_ = false;

  void Load(Napi::Env env, const std::string &path) {
    bpf_object *obj = bpf_object__open_file(path.c_str(), nullptr);
    if (!obj) throw bpf_error(env, "cannot open BPF object " + path, errno);
    objects_.push_back(obj);
    bpf_map *map;
    bpf_object__for_each_map(map, obj) {
      auto it = shared_maps_.find(bpf_map__name(map));
      if (it == shared_maps_.end()) continue;
      int err = bpf_map__reuse_fd(map, it->second);
      if (err) throw bpf_error(env, std::string("cannot share map ") + bpf_map__name(map), err);
    }
    int err = bpf_object__load(obj);
    if (err) throw bpf_error(env, "cannot load BPF object " + path, err);
    bpf_object__for_each_map(map, obj) {
      if (!shared_maps_.count(bpf_map__name(map))) shared_maps_[bpf_map__name(map)] = bpf_map__fd(map);
    }
  }

  bool LoadMulti(const std::string &path) {
    bpf_object *obj = bpf_object__open_file(path.c_str(), nullptr);
    if (!obj) return false;
    bool any = false;
    bpf_program *prog;
    bpf_object__for_each_program(prog, obj) {
      bool uprobe = std::string(bpf_program__section_name(prog)).rfind("uprobe", 0) == 0;
      bpf_program__set_autoload(prog, uprobe);
      if (uprobe) bpf_program__set_expected_attach_type(prog, static_cast<bpf_attach_type>(kTraceUprobeMulti));
      any = any || uprobe;
    }
    if (!any) {
      bpf_object__close(obj);
      return true;
    }
    bpf_map *map;
    bpf_object__for_each_map(map, obj) {
      auto it = shared_maps_.find(bpf_map__name(map));
      if (it != shared_maps_.end() && bpf_map__reuse_fd(map, it->second)) {
        bpf_object__close(obj);
        return false;
      }
    }
    if (bpf_object__load(obj)) {
      bpf_object__close(obj);
      return false;
    }
    multi_objects_.push_back(obj);
    return true;
  }

  static constexpr int kTraceUprobeMulti = 48;  // BPF_TRACE_UPROBE_MULTI (Linux 6.6)
  static constexpr uint32_t kUprobeMultiReturn = 1;  // BPF_F_UPROBE_MULTI_RETURN

  // attachUprobeMulti(program, binary, offsets: number[], cookies: bigint[], pid, retprobe) -> link id:
  // one link for every site, one unregistration for all of them when it goes.
  Napi::Value AttachUprobeMulti(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    if (!multi_) throw Napi::Error::New(env, "this kernel has no uprobe_multi links");
    std::string name = info[0].As<Napi::String>();
    bpf_program *prog = nullptr;
    for (auto *obj : multi_objects_) {
      if ((prog = bpf_object__find_program_by_name(obj, name.c_str()))) break;
    }
    if (!prog) throw Napi::Error::New(env, "no uprobe program " + name + " in the loaded objects");
    std::string binary = info[1].As<Napi::String>();
    auto offsets = info[2].As<Napi::Array>();
    auto cookies = info[3].As<Napi::Array>();
    int pid = info[4].As<Napi::Number>().Int32Value();
    bool retprobe = info[5].As<Napi::Boolean>();
    std::vector<uint64_t> offs(offsets.Length()), cks(offsets.Length());
    bool lossless;
    for (uint32_t i = 0; i < offsets.Length(); i++) {
      offs[i] = static_cast<uint64_t>(offsets.Get(i).As<Napi::Number>().Int64Value());
      cks[i] = cookies.Get(i).As<Napi::BigInt>().Uint64Value(&lossless);
    }
    // union bpf_attr's link_create with its uprobe_multi member (linux/bpf.h, 6.6)
    struct {
      uint32_t prog_fd, target_fd, attach_type, flags;
      uint64_t path, offsets, ref_ctr_offsets, cookies;
      uint32_t cnt, multi_flags, pid;
      uint8_t rest[64];
    } attr = {};
    attr.prog_fd = bpf_program__fd(prog);
    attr.attach_type = kTraceUprobeMulti;
    attr.path = reinterpret_cast<uint64_t>(binary.c_str());
    attr.offsets = reinterpret_cast<uint64_t>(offs.data());
    attr.cookies = reinterpret_cast<uint64_t>(cks.data());
    attr.cnt = offs.size();
    attr.multi_flags = retprobe ? kUprobeMultiReturn : 0;
    attr.pid = pid > 0 ? pid : 0;
    int fd = syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof attr);
    if (fd < 0) {
      throw bpf_error(env, std::string("cannot attach ") + (retprobe ? "uretprobes" : "uprobes") + " (uprobe_multi) to " + binary + " at " +
                               std::to_string(offs.size()) + " site(s)", errno);
    }
    return Napi::Number::New(env, Remember(Link{nullptr, fd}));
  }

  bpf_program *Program(Napi::Env env, const std::string &name) {
    for (auto *obj : objects_) {
      if (auto *p = bpf_object__find_program_by_name(obj, name.c_str())) return p;
    }
    throw Napi::Error::New(env, "no BPF program " + name + " in the loaded objects");
  }

  void CheckOpen(Napi::Env env) {
    if (closed_) throw Napi::Error::New(env, "tracer is closed");
  }

  int Remember(Link link) {
    links_[next_link_] = link;
    return next_link_++;
  }
  int Remember(bpf_link *link) { return Remember(Link{link, -1}); }

  // attachUprobe(program, binary, offset, funcName|null, pid, retprobe, cookie: bigint) -> link id
  Napi::Value AttachUprobe(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    auto *prog = Program(env, info[0].As<Napi::String>());
    std::string binary = info[1].As<Napi::String>();
    size_t offset = info[2].As<Napi::Number>().Int64Value();
    std::string func = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "";
    int pid = info[4].As<Napi::Number>().Int32Value();
    bool lossless;
    LIBBPF_OPTS(bpf_uprobe_opts, opts);
    opts.retprobe = info[5].As<Napi::Boolean>();
    opts.bpf_cookie = info[6].As<Napi::BigInt>().Uint64Value(&lossless);
    if (!func.empty()) opts.func_name = func.c_str();
    bpf_link *link = bpf_program__attach_uprobe_opts(prog, pid, binary.c_str(), offset, &opts);
    if (!link) {
      throw bpf_error(env, std::string("cannot attach ") + (opts.retprobe ? "uretprobe" : "uprobe") + " to " + binary +
                               (func.empty() ? "" : ":" + func) + "+" + std::to_string(offset), errno);
    }
    return Napi::Number::New(env, Remember(link));
  }

  // attachTracing(program) -> link id (tp_btf / fentry programs)
  Napi::Value AttachTracing(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    std::string name = info[0].As<Napi::String>();
    bpf_link *link = bpf_program__attach(Program(env, name));
    if (!link) throw bpf_error(env, "cannot attach " + name, errno);
    return Napi::Number::New(env, Remember(link));
  }

  Napi::Value Detach(const Napi::CallbackInfo &info) {
    auto it = links_.find(info[0].As<Napi::Number>().Int32Value());
    if (it != links_.end()) {
      it->second.Destroy();
      links_.erase(it);
    }
    return info.Env().Undefined();
  }

  // detachAsync(linkIds) -> Promise: the links stop being ours now, the kernel lets go later.
  Napi::Value DetachAsync(const Napi::CallbackInfo &info) {
    auto ids = info[0].As<Napi::Array>();
    std::vector<Link> links;
    for (uint32_t i = 0; i < ids.Length(); i++) {
      auto it = links_.find(ids.Get(i).As<Napi::Number>().Int32Value());
      if (it == links_.end()) continue;
      links.push_back(it->second);
      links_.erase(it);
    }
    auto deferred = Napi::Promise::Deferred::New(info.Env());
    auto promise = deferred.Promise();
    if (links.empty() || !detacher_) {
      deferred.Resolve(info.Env().Undefined());
    } else {
      detacher_->Submit(std::move(links), std::move(deferred));
    }
    return promise;
  }

  // clearDrops(probeId): a reused probe id starts from zero drops
  Napi::Value ClearDrops(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (closed_ || !shared_maps_.count("lab_drops")) return env.Undefined();
    uint32_t key = info[0].As<Napi::Number>().Uint32Value();
    bpf_map_delete_elem(shared_maps_["lab_drops"], &key);  // ENOENT: nothing to clear
    if (shared_maps_.count("lab_lost")) bpf_map_delete_elem(shared_maps_["lab_lost"], &key);
    return env.Undefined();
  }

  void MapRing(Napi::Env env, int fd) {
    bpf_map_info map_info = {};
    uint32_t info_len = sizeof(map_info);
    if (bpf_obj_get_info_by_fd(fd, &map_info, &info_len)) throw bpf_error(env, "cannot read the ring buffer's size", errno);
    if (map_info.type != BPF_MAP_TYPE_RINGBUF) throw Napi::Error::New(env, "lab_events is not a BPF ring buffer");
    page_size_ = sysconf(_SC_PAGESIZE);
    ring_size_ = map_info.max_entries;
    void *cons = mmap(nullptr, page_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (cons == MAP_FAILED) throw bpf_error(env, "cannot map the ring buffer's consumer page", errno);
    consumer_pos_ = static_cast<uint64_t *>(cons);
    // The kernel refuses more than one writable page; the rest is read-only.
    void *prod = mmap(nullptr, page_size_ + 2 * ring_size_, PROT_READ, MAP_SHARED, fd, page_size_);
    if (prod == MAP_FAILED) {
      int err = errno;
      UnmapRing();
      throw bpf_error(env, "cannot map the ring buffer's data", err);
    }
    producer_page_ = static_cast<uint8_t *>(prod);
    data_ = producer_page_ + page_size_;
    // No finalizer: the mapping is the tracer's, unmapped (and this view detached) when it closes.
    ring_ref_ = Napi::Persistent(Napi::ArrayBuffer::New(env, data_, 2 * ring_size_));
  }

  // Detaches JS's view (so a stale read finds nothing rather than unmapped
  // memory) when JS can be reached, then unmaps.
  void UnmapRing(bool detach = false) {
    if (!ring_ref_.IsEmpty()) {
      if (detach) {
        Napi::HandleScope scope(Env());
        ring_ref_.Value().Detach();
      }
      ring_ref_.Reset();
    }
    if (producer_page_) munmap(producer_page_, page_size_ + 2 * ring_size_);
    if (consumer_pos_) munmap(consumer_pos_, page_size_);
    producer_page_ = data_ = nullptr;
    consumer_pos_ = nullptr;
  }

  // Consumes everything waiting and hands it to JS, a batch (~kBatchBytes, or a block's worth of
  // events) at a time: JS gets the data area's ArrayBuffer and the bounds [start, end) of whole
  // records (each an 8-byte header: length, BUSY and DISCARD bits, then the sample, padded to 8),
  // and the block of their events' slots (CompactRecord), `slots` of them used; the consumer
  // position moves past the records once JS has returned. Returns the number of records consumed
  // (discarded ones not counted).
  int DrainAndDeliver(Napi::Env env) {
    // Called again from inside the callback: the batch JS is reading must stay as it is.
    if (delivering_) return 0;
    int total = 0;
    for (;;) {
      if (closed_ || !data_) return total;
      const uint64_t cons = __atomic_load_n(consumer_pos_, __ATOMIC_RELAXED);  // ours alone to write
      const uint64_t prod = __atomic_load_n(reinterpret_cast<uint64_t *>(producer_page_), __ATOMIC_ACQUIRE);
      const uint64_t mask = ring_size_ - 1;
      uint64_t pos = cons;
      int records = 0;
      void *block = nullptr;
      uint32_t slots = 0;
      bool full = false;
      while (pos < prod) {
        if (pos - cons >= kBatchBytes) {
          full = true;
          break;
        }
        // Acquire: the sample's bytes are read after the producer committed them.
        uint32_t len = __atomic_load_n(reinterpret_cast<uint32_t *>(data_ + (pos & mask)), __ATOMIC_ACQUIRE);
        if (len & BPF_RINGBUF_BUSY_BIT) break;  // still being written: records are committed in order
        const bool discarded = len & BPF_RINGBUF_DISCARD_BIT;
        len &= ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
        const uint64_t size = (static_cast<uint64_t>(len) + BPF_RINGBUF_HDR_SZ + 7) & ~7ull;
        // The lines a few records on, asked for now so that their misses (the producer wrote them
        // on another CPU) overlap with this record's copy, not one after the other. Not past the
        // producer's position: lines it is still writing would bounce between the CPUs.
        for (uint64_t ahead = pos + kPrefetchAhead; ahead < pos + kPrefetchAhead + kPrefetchSpan && ahead < prod; ahead += 64)
          __builtin_prefetch(data_ + (ahead & mask));
        if (!discarded && len >= sizeof(lab_event)) {
          if (!block && !(block = TakeBlock())) throw Napi::Error::New(env, "out of memory for a batch of events");
          if ((slots + kFixedSlots + 2 * LAB_MAX_REGS) * 8 > kBlockBytes) {
            full = true;  // the block is full: the rest in the next batch
            break;
          }
          const uint64_t at = (pos & mask) + BPF_RINGBUF_HDR_SZ;  // < 2 × ring_size_: the second mapping
          slots += CompactRecord(reinterpret_cast<const lab_event *>(data_ + at), static_cast<uint32_t>(at),
                                 static_cast<uint8_t *>(block), slots);
          records++;
        }
        pos += size;
      }
      if (pos == cons) {
        if (block) GiveBackBlock(block, kBlockBytes, nullptr);
        return total;
      }
      total += records;
      if (records) idle_ticks_ = 0;
      const double start = static_cast<double>(cons & mask);
      const double end = start + static_cast<double>(pos - cons);  // < 2 × ring_size_: the second mapping
      delivering_ = true;
      try {
        // A scope per batch: this loop runs as long as a backlog lasts, and handles kept to its end
        // kept every batch's block alive through the scavenges (promoted, then freed by a full GC).
        Napi::HandleScope scope(env);
        Napi::Value blockValue = env.Null();
        if (block) blockValue = BlockBuffer(env, block, slots * 8);
        // May call close(): it leaves the mapping to us until JS has returned.
        on_events_.MakeCallback(env.Global(), {ring_ref_.Value(), Napi::Number::New(env, start), Napi::Number::New(env, end),
                                               blockValue, Napi::Number::New(env, slots)});
      } catch (...) {
        delivering_ = false;
        Consumed(pos);  // a handler that throws does not get the same records again
        throw;
      }
      delivering_ = false;
      Consumed(pos);
      if (!full) return total;
    }
  }

  // JS has read the records before pos: the kernel may reuse their space
  // (release: after every read of them). Unmaps if JS closed the tracer meanwhile.
  void Consumed(uint64_t pos) {
    if (!consumer_pos_) return;
    __atomic_store_n(consumer_pos_, pos, __ATOMIC_RELEASE);
    if (closed_) UnmapRing(true);
  }

  static void OnReadable(uv_poll_t *handle, int status, int events) {
    static_cast<Tracer *>(handle->data)->DeliverFromLoop();
  }

  static void OnFlushTimer(uv_timer_t *handle) {
    auto *self = static_cast<Tracer *>(handle->data);
    // A whole flush period without a record: the blocks kept for a flow of events can go.
    if (self->DeliverFromLoop() == 0 && ++self->idle_ticks_ == kIdleTicks) TrimBlocks();
  }

  int DeliverFromLoop() {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    try {
      return DrainAndDeliver(env);
    } catch (const Napi::Error &e) {
      napi_fatal_exception(env, e.Value());
      return 0;
    }
  }

  Napi::Value Drain(const Napi::CallbackInfo &info) {
    return Napi::Number::New(info.Env(), DrainAndDeliver(info.Env()));
  }

  // drops(probeId) -> events the ring buffer had no room for
  // drops(probeId, counter = "lab_drops"): a per-CPU count by probe id (lab_lost: open frames the LRU dropped)
  Napi::Value Drops(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    std::string counter = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "lab_drops";
    if (counter != "lab_drops" && counter != "lab_lost") throw Napi::Error::New(env, "drops: no counter " + counter);
    if (closed_ || !shared_maps_.count(counter)) return Napi::Number::New(env, 0);
    uint32_t key = info[0].As<Napi::Number>().Uint32Value();
    int ncpu = libbpf_num_possible_cpus();
    std::vector<uint64_t> values(ncpu > 0 ? ncpu : 1);
    if (bpf_map_lookup_elem(shared_maps_[counter], &key, values.data())) return Napi::Number::New(env, 0);
    uint64_t sum = 0;
    for (auto v : values) sum += v;
    return Napi::Number::New(env, static_cast<double>(sum));
  }

  // watch(pid): report this process's exit even if no probe fires in it
  Napi::Value Watch(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    uint32_t pid = info[0].As<Napi::Number>().Uint32Value();
    uint8_t yes = 1;
    int err = bpf_map_update_elem(shared_maps_["lab_watched"], &pid, &yes, BPF_ANY);
    if (err) throw bpf_error(env, "cannot watch pid " + std::to_string(pid), errno);
    return env.Undefined();
  }

  // configure(probeId, bytes): the probe's struct lab_probe_config (bpf/events.h) in lab_config
  Napi::Value Configure(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    uint32_t key = info[0].As<Napi::Number>().Uint32Value();
    auto bytes = info[1].As<Napi::Uint8Array>();
    int fd = shared_maps_.count("lab_config") ? shared_maps_["lab_config"] : -1;
    if (fd < 0) throw Napi::Error::New(env, "the loaded BPF objects have no lab_config map");
    bpf_map_info map_info = {};
    uint32_t info_len = sizeof(map_info);
    if (bpf_obj_get_info_by_fd(fd, &map_info, &info_len) || map_info.value_size != bytes.ByteLength())
      throw Napi::Error::New(env, "configure: the config is " + std::to_string(bytes.ByteLength()) + " bytes, lab_config holds " + std::to_string(map_info.value_size));
    int err = bpf_map_update_elem(fd, &key, bytes.Data(), BPF_ANY);
    if (err) throw bpf_error(env, "cannot configure probe " + std::to_string(key), errno);
    return env.Undefined();
  }

  // ref(true) while someone awaits events, ref(false) when idle
  Napi::Value Ref(const Napi::CallbackInfo &info) {
    if (poll_ && !closed_) {
      auto *h = reinterpret_cast<uv_handle_t *>(poll_);
      if (info[0].As<Napi::Boolean>()) uv_ref(h); else uv_unref(h);
    }
    return info.Env().Undefined();
  }

  Napi::Value UprobeMulti(const Napi::CallbackInfo &info) { return Napi::Boolean::New(info.Env(), multi_); }

  Napi::Value ProgramIds(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    auto out = Napi::Array::New(env);
    uint32_t i = 0;
    std::vector<bpf_object *> all(objects_);
    all.insert(all.end(), multi_objects_.begin(), multi_objects_.end());
    for (auto *obj : all) {
      bpf_program *p;
      bpf_object__for_each_program(p, obj) {
        bpf_prog_info pi = {};
        uint32_t len = sizeof pi;
        if (bpf_program__fd(p) >= 0 && bpf_obj_get_info_by_fd(bpf_program__fd(p), &pi, &len) == 0) out.Set(i++, Napi::Number::New(env, pi.id));
      }
    }
    return out;
  }

  Napi::Value Close(const Napi::CallbackInfo &info) {
    Release(true);
    return info.Env().Undefined();
  }

  // detach: JS can be reached (not from the finalizer), so its view of the ring is detached too.
  void Release(bool detach = false) {
    if (closed_) return;
    closed_ = true;
    if (detacher_) detacher_->Stop();
    delete detacher_;
    detacher_ = nullptr;
    std::vector<Link> left;
    for (auto &[id, link] : links_) left.push_back(link);
    links_.clear();
    Detacher::DestroyAll(left);
    if (poll_) {
      uv_poll_stop(poll_);
      uv_close(reinterpret_cast<uv_handle_t *>(poll_), [](uv_handle_t *h) { delete reinterpret_cast<uv_poll_t *>(h); });
      poll_ = nullptr;
    }
    if (flush_) {
      uv_timer_stop(flush_);
      uv_close(reinterpret_cast<uv_handle_t *>(flush_), [](uv_handle_t *h) { delete reinterpret_cast<uv_timer_t *>(h); });
      flush_ = nullptr;
    }
    // During a delivery JS is still reading the ring: DrainAndDeliver unmaps it on return.
    if (!delivering_) UnmapRing(detach);
    for (auto *obj : objects_) bpf_object__close(obj);
    objects_.clear();
    for (auto *obj : multi_objects_) bpf_object__close(obj);
    multi_objects_.clear();
    shared_maps_.clear();
  }
};

Napi::Object InitAll(Napi::Env env, Napi::Object exports) { return Tracer::Init(env, exports); }

}  // namespace

NODE_API_MODULE(lab_tracer, InitAll)
