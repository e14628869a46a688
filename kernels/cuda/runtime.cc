// kernels/cuda/runtime.h on the CUDA runtime API.
#include "kernels/cuda/runtime.h"

#include <cuda_runtime_api.h>

#include <utility>

#include "kernels/cuda/cuda_status.h"

namespace engram::kernels::cuda {
namespace {

std::string Mib(size_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

// The allocation failure as one line: what was asked, what the device has.
Status OutOfMemory(const char* what, size_t bytes) {
  size_t free = 0, total = 0;
  cudaGetLastError();  // clear the sticky allocation error
  std::string detail;
  if (cudaMemGetInfo(&free, &total) == cudaSuccess) {
    detail = " (" + Mib(free) + " free of " + Mib(total) + ")";
  }
  return Status::ResourceExhausted("cuda: cannot allocate " + Mib(bytes) + " of " + what +
                                   detail);
}

}  // namespace

Result<DeviceBuffer> DeviceBuffer::Allocate(size_t bytes) {
  DeviceBuffer buffer;
  if (bytes == 0) return buffer;
  const cudaError_t err = cudaMalloc(&buffer.ptr_, bytes);
  if (err == cudaErrorMemoryAllocation) return OutOfMemory("device memory", bytes);
  if (Status s = ENGRAM_CUDA_CHECK(err); !s.ok()) return s;
  buffer.size_ = bytes;
  return buffer;
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)), size_(std::exchange(other.size_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = std::exchange(other.ptr_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_ != nullptr) cudaFree(ptr_);
}

Result<PinnedBuffer> PinnedBuffer::Allocate(size_t bytes) {
  PinnedBuffer buffer;
  if (bytes == 0) return buffer;
  const cudaError_t err = cudaMallocHost(&buffer.ptr_, bytes);
  if (err == cudaErrorMemoryAllocation) return OutOfMemory("pinned host memory", bytes);
  if (Status s = ENGRAM_CUDA_CHECK(err); !s.ok()) return s;
  buffer.size_ = bytes;
  return buffer;
}

PinnedBuffer::PinnedBuffer(PinnedBuffer&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)), size_(std::exchange(other.size_, 0)) {}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& other) noexcept {
  if (this != &other) {
    if (ptr_ != nullptr) cudaFreeHost(ptr_);
    ptr_ = std::exchange(other.ptr_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

PinnedBuffer::~PinnedBuffer() {
  if (ptr_ != nullptr) cudaFreeHost(ptr_);
}

Result<StreamHandle> StreamHandle::Create() {
  StreamHandle handle;
  if (Status s = ENGRAM_CUDA_CHECK(cudaStreamCreateWithFlags(&handle.stream_,
                                                             cudaStreamNonBlocking));
      !s.ok()) {
    return s;
  }
  return handle;
}

StreamHandle::StreamHandle(StreamHandle&& other) noexcept
    : stream_(std::exchange(other.stream_, nullptr)) {}

StreamHandle& StreamHandle::operator=(StreamHandle&& other) noexcept {
  if (this != &other) {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
    stream_ = std::exchange(other.stream_, nullptr);
  }
  return *this;
}

StreamHandle::~StreamHandle() {
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

Status StreamHandle::Synchronize() const {
  return ENGRAM_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

Result<Event> Event::Create() {
  Event event;
  if (Status s = ENGRAM_CUDA_CHECK(cudaEventCreateWithFlags(&event.event_,
                                                            cudaEventDisableTiming));
      !s.ok()) {
    return s;
  }
  return event;
}

Event::Event(Event&& other) noexcept : event_(std::exchange(other.event_, nullptr)) {}

Event& Event::operator=(Event&& other) noexcept {
  if (this != &other) {
    if (event_ != nullptr) cudaEventDestroy(event_);
    event_ = std::exchange(other.event_, nullptr);
  }
  return *this;
}

Event::~Event() {
  if (event_ != nullptr) cudaEventDestroy(event_);
}

Status Event::Record(Stream stream) { return ENGRAM_CUDA_CHECK(cudaEventRecord(event_, stream)); }

Status Event::Synchronize() const { return ENGRAM_CUDA_CHECK(cudaEventSynchronize(event_)); }

Graph::Graph(Graph&& other) noexcept : exec_(std::exchange(other.exec_, nullptr)) {}

Graph& Graph::operator=(Graph&& other) noexcept {
  if (this != &other) {
    Reset();
    exec_ = std::exchange(other.exec_, nullptr);
  }
  return *this;
}

Graph::~Graph() { Reset(); }

void Graph::Reset() {
  if (exec_ != nullptr) cudaGraphExecDestroy(exec_);
  exec_ = nullptr;
}

Status Graph::BeginCapture(Stream stream) {
  Reset();
  // Thread-local: only this thread's unsafe calls (a synchronous copy, say) break the capture.
  return ENGRAM_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
}

Status Graph::EndCapture(Stream stream) {
  cudaGraph_t graph = nullptr;
  if (Status s = ENGRAM_CUDA_CHECK(cudaStreamEndCapture(stream, &graph)); !s.ok()) return s;
  const Status s = ENGRAM_CUDA_CHECK(cudaGraphInstantiate(&exec_, graph, 0));
  cudaGraphDestroy(graph);  // the executable graph keeps what it needs
  if (!s.ok()) exec_ = nullptr;
  return s;
}

Status Graph::Launch(Stream stream) const {
  if (exec_ == nullptr) return Status::Internal("cuda: launching a graph that was not captured");
  return ENGRAM_CUDA_CHECK(cudaGraphLaunch(exec_, stream));
}

Status CopyToDevice(void* device_dst, const void* host_src, size_t bytes, Stream stream) {
  if (bytes == 0) return Status::OK();
  if (stream == nullptr) {
    return ENGRAM_CUDA_CHECK(cudaMemcpy(device_dst, host_src, bytes, cudaMemcpyHostToDevice));
  }
  return ENGRAM_CUDA_CHECK(
      cudaMemcpyAsync(device_dst, host_src, bytes, cudaMemcpyHostToDevice, stream));
}

Status CopyToHost(void* host_dst, const void* device_src, size_t bytes, Stream stream) {
  if (bytes == 0) return Status::OK();
  if (stream == nullptr) {
    return ENGRAM_CUDA_CHECK(cudaMemcpy(host_dst, device_src, bytes, cudaMemcpyDeviceToHost));
  }
  return ENGRAM_CUDA_CHECK(
      cudaMemcpyAsync(host_dst, device_src, bytes, cudaMemcpyDeviceToHost, stream));
}

Status CopyOnDevice(void* dst, const void* src, size_t bytes, Stream stream) {
  if (bytes == 0) return Status::OK();
  if (stream == nullptr) {
    return ENGRAM_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
  }
  return ENGRAM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
}

Status FillZero(void* device_dst, size_t bytes, Stream stream) {
  if (bytes == 0) return Status::OK();
  if (stream == nullptr) return ENGRAM_CUDA_CHECK(cudaMemset(device_dst, 0, bytes));
  return ENGRAM_CUDA_CHECK(cudaMemsetAsync(device_dst, 0, bytes, stream));
}

Status CopyRowsToDevice(void* device_dst, size_t dst_pitch, const void* host_src,
                        size_t src_pitch, size_t row_bytes, size_t rows, Stream stream) {
  if (rows == 0 || row_bytes == 0) return Status::OK();
  return ENGRAM_CUDA_CHECK(cudaMemcpy2DAsync(device_dst, dst_pitch, host_src, src_pitch,
                                             row_bytes, rows, cudaMemcpyHostToDevice, stream));
}

Status LastError() { return ENGRAM_CUDA_CHECK(cudaGetLastError()); }

Status UseDevice(int device) {
  int count = 0;
  if (const cudaError_t err = cudaGetDeviceCount(&count); err != cudaSuccess) {
    return Status::Unavailable(std::string("no usable GPU (") + cudaGetErrorString(err) + ")");
  }
  if (device < 0 || device >= count) {
    return Status::Unavailable("GPU " + std::to_string(device) + " does not exist (" +
                               std::to_string(count) + " visible)");
  }
  return ENGRAM_CUDA_CHECK(cudaSetDevice(device));
}

Result<DeviceInfo> QueryDevice(int device) {
  if (Status s = UseDevice(device); !s.ok()) return s;
  cudaDeviceProp prop{};
  if (Status s = ENGRAM_CUDA_CHECK(cudaGetDeviceProperties(&prop, device)); !s.ok()) return s;
  DeviceInfo info;
  info.index = device;
  info.name = prop.name;
  info.compute_capability = prop.major * 10 + prop.minor;
  info.multiprocessors = prop.multiProcessorCount;
  info.total_bytes = prop.totalGlobalMem;
  size_t free = 0, total = 0;
  if (cudaMemGetInfo(&free, &total) == cudaSuccess) info.free_bytes = free;
  // cudaDeviceProp lost its clock fields in CUDA 13; the attributes remain. kHz and bits.
  int clock_khz = 0, bus_bits = 0;
  cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, device);
  cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device);
  info.peak_bandwidth_bytes_per_s = 2.0 * clock_khz * 1e3 * (bus_bits / 8.0);
  return info;
}

}  // namespace engram::kernels::cuda
