// A blocking TCP stream over a socket descriptor with deadlines, shaped as Asio's SyncReadStream
// and SyncWriteStream so Beast's http::read / http::write run on it. Asio's own blocking sockets
// wait forever (they retry on SO_RCVTIMEO's EAGAIN), which is why the server reads through this:
// every read and write waits in poll() for at most the time left, then fails with
// beast::error::timeout, so a slow or silent client never holds a thread past its deadline.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/system/system_error.hpp>
#include <cerrno>
#include <chrono>
#include <cstddef>

namespace engram::agent::internal {

class HttpStream {
 public:
  using Clock = std::chrono::steady_clock;

  explicit HttpStream(int fd) : fd_(fd) {}
  int fd() const { return fd_; }

  // Reads must finish by `deadline`.
  void set_read_deadline(Clock::time_point deadline) { read_deadline_ = deadline; }
  // Each write may wait this long for the client to take bytes.
  void set_write_timeout(std::chrono::milliseconds timeout) { write_timeout_ = timeout; }

  template <class MutableBuffers>
  size_t read_some(const MutableBuffers& buffers, boost::beast::error_code& ec) {
    ec = {};
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      boost::asio::mutable_buffer b = *it;
      if (b.size() == 0) continue;
      if (!Wait(POLLIN, read_deadline_, ec)) return 0;
      const ssize_t n = ::recv(fd_, b.data(), b.size(), 0);
      if (n > 0) return static_cast<size_t>(n);
      if (n == 0) {
        ec = boost::asio::error::eof;
      } else {
        ec.assign(errno, boost::system::system_category());
      }
      return 0;
    }
    return 0;
  }

  template <class MutableBuffers>
  size_t read_some(const MutableBuffers& buffers) {
    boost::beast::error_code ec;
    const size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  // Sends as much of `buffers` as the socket takes in one gathered write (header and body of a
  // response leave together).
  template <class ConstBuffers>
  size_t write_some(const ConstBuffers& buffers, boost::beast::error_code& ec) {
    ec = {};
    iovec iov[kMaxIov];
    size_t count = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && count < kMaxIov; ++it) {
      boost::asio::const_buffer b = *it;
      if (b.size() == 0) continue;
      iov[count++] = {const_cast<void*>(b.data()), b.size()};
    }
    if (count == 0) return 0;
    if (!Wait(POLLOUT, Clock::now() + write_timeout_, ec)) return 0;
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (n >= 0) return static_cast<size_t>(n);
    ec.assign(errno, boost::system::system_category());
    return 0;
  }

  template <class ConstBuffers>
  size_t write_some(const ConstBuffers& buffers) {
    boost::beast::error_code ec;
    const size_t n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  static constexpr size_t kMaxIov = 16;

  // Waits until the socket is ready for `events`; false (ec set) at the deadline or on an error.
  bool Wait(short events, Clock::time_point deadline, boost::beast::error_code& ec) {
    while (true) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        ec = boost::beast::error::timeout;
        return false;
      }
      pollfd p{fd_, events, 0};
      const int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1 << 30)));
      if (r > 0) return true;  // ready, or an error/hang-up the next recv/send reports
      if (r < 0 && errno != EINTR) {
        ec.assign(errno, boost::system::system_category());
        return false;
      }
    }
  }

  int fd_;
  Clock::time_point read_deadline_ = Clock::time_point::max();
  std::chrono::milliseconds write_timeout_{60000};
};

}  // namespace engram::agent::internal
