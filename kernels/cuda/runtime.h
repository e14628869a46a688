// The CUDA runtime as engram uses it: device and pinned memory that frees itself, streams,
// copies, graphs and device properties, every failure a Status (kernels/cuda/cuda_status.h's
// conventions: out of memory is kResourceExhausted naming the bytes, no device kUnavailable).
// Host C++ includes this without CUDA headers; only in builds with CUDA (ENGRAM_HAVE_CUDA).
//
//   Result<DeviceBuffer> w = DeviceBuffer::Allocate(bytes);
//   Status s = CopyToDevice(w->data(), host, bytes);          // synchronous without a stream
//   Result<StreamHandle> stream = StreamHandle::Create();
//   cuda::MatMul(..., stream->get());                           // kernels/cuda/ops.h
//   s = CopyToHost(out, y, n, stream->get());                   // asynchronous on a stream
//   s = stream->Synchronize();
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/result.h"
#include "kernels/cuda/ops.h"

struct CUgraphExec_st;
struct CUevent_st;

namespace engram::kernels::cuda {

// Device memory; move-only, freed on destruction.
class DeviceBuffer {
 public:
  // kResourceExhausted ("cuda: cannot allocate N MiB of device memory (F MiB free of T)") when
  // the device has too little; zero bytes gives an empty buffer.
  static Result<DeviceBuffer> Allocate(size_t bytes);
  DeviceBuffer() = default;
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();

  void* data() const { return ptr_; }
  size_t size() const { return size_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
  size_t size_ = 0;
};

// Page-locked host memory (asynchronous copies need it); move-only.
class PinnedBuffer {
 public:
  static Result<PinnedBuffer> Allocate(size_t bytes);
  PinnedBuffer() = default;
  PinnedBuffer(PinnedBuffer&& other) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& other) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer();

  void* data() const { return ptr_; }
  size_t size() const { return size_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
  size_t size_ = 0;
};

// A non-blocking stream; move-only.
class StreamHandle {
 public:
  static Result<StreamHandle> Create();
  StreamHandle() = default;
  StreamHandle(StreamHandle&& other) noexcept;
  StreamHandle& operator=(StreamHandle&& other) noexcept;
  StreamHandle(const StreamHandle&) = delete;
  StreamHandle& operator=(const StreamHandle&) = delete;
  ~StreamHandle();

  Stream get() const { return stream_; }
  // Waits for everything enqueued; returns the first error of the work (a failed kernel).
  Status Synchronize() const;

 private:
  Stream stream_ = nullptr;
};

// A point in a stream's work the host can wait for (without waiting for what comes after).
class Event {
 public:
  static Result<Event> Create();
  Event() = default;
  Event(Event&& other) noexcept;
  Event& operator=(Event&& other) noexcept;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event();

  Status Record(Stream stream);
  Status Synchronize() const;  // waits until the work before Record is done

 private:
  CUevent_st* event_ = nullptr;
};

// A captured sequence of launches replayed with one call (a decode step: a 135M model is
// launch-bound otherwise). Capture records what is enqueued on `stream` between BeginCapture
// and EndCapture instead of running it; Launch replays it on a stream. Kernel arguments are
// frozen at capture, so what changes between replays must live in device memory.
class Graph {
 public:
  Graph() = default;
  Graph(Graph&& other) noexcept;
  Graph& operator=(Graph&& other) noexcept;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  ~Graph();

  Status BeginCapture(Stream stream);
  Status EndCapture(Stream stream);  // instantiates it
  Status Launch(Stream stream) const;
  bool ready() const { return exec_ != nullptr; }
  void Reset();

 private:
  CUgraphExec_st* exec_ = nullptr;
};

// Copies. With a stream they are asynchronous (host memory should be pinned); without one
// (nullptr) they complete before returning.
Status CopyToDevice(void* device_dst, const void* host_src, size_t bytes, Stream stream = nullptr);
Status CopyToHost(void* host_dst, const void* device_src, size_t bytes, Stream stream = nullptr);
Status CopyOnDevice(void* dst, const void* src, size_t bytes, Stream stream = nullptr);
Status FillZero(void* device_dst, size_t bytes, Stream stream = nullptr);
// `rows` rows of row_bytes each, from host_src + i · src_pitch to device_dst + i · dst_pitch.
Status CopyRowsToDevice(void* device_dst, size_t dst_pitch, const void* host_src,
                        size_t src_pitch, size_t row_bytes, size_t rows, Stream stream);

// The error of the last launch on this thread (and clears it): OK, or the CUDA error.
Status LastError();

// Makes `device` current for this thread. kUnavailable when it does not exist.
Status UseDevice(int device);

struct DeviceInfo {
  int index = 0;
  std::string name;                    // "NVIDIA H200"
  int compute_capability = 0;          // 90 for sm_90
  int multiprocessors = 0;
  size_t total_bytes = 0;
  size_t free_bytes = 0;               // when queried
  // Memory clock × 2 (DDR) × bus width: the bandwidth roofline decode is measured against.
  double peak_bandwidth_bytes_per_s = 0.0;
};

// Properties of `device`. kUnavailable without a driver or device.
Result<DeviceInfo> QueryDevice(int device);

}  // namespace engram::kernels::cuda
