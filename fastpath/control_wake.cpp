#include "esprit/fastpath/control_wake.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

namespace esprit {

std::unique_ptr<ControlWake> ControlWake::create(std::string* error) {
  const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) {
    if (error) *error = std::string("eventfd: ") + std::strerror(errno);
    return nullptr;
  }
  return std::unique_ptr<ControlWake>(new ControlWake(fd));
}

ControlWake::~ControlWake() { close(fd_); }

void ControlWake::ring() noexcept {
  const uint64_t one = 1;
  // Non-blocking: EAGAIN (the counter near 2^64) means a wake-up is pending anyway.
  const ssize_t r = write(fd_, &one, sizeof one);
  if (r == static_cast<ssize_t>(sizeof one)) rings_.fetch_add(1, std::memory_order_relaxed);
}

bool ControlWake::wait(std::chrono::nanoseconds timeout, std::span<pollfd> fds) noexcept {
  // The eventfd first, then the caller's descriptors; a few of them (the control socket's).
  constexpr std::size_t kInline = 16;
  pollfd inline_fds[kInline];
  std::vector<pollfd> heap;
  pollfd* p = inline_fds;
  if (fds.size() + 1 > kInline) {
    try {
      heap.resize(fds.size() + 1);
      p = heap.data();
    } catch (...) {
      fds = fds.first(kInline - 1);  // the rest waits for the timeout
    }
  }
  p[0] = {fd_, POLLIN, 0};
  for (std::size_t i = 0; i < fds.size(); ++i) p[i + 1] = {fds[i].fd, fds[i].events, 0};
  if (timeout < std::chrono::nanoseconds::zero()) timeout = std::chrono::nanoseconds::zero();
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  const timespec ts{static_cast<time_t>(s.count()), static_cast<long>((timeout - s).count())};
  sleeps_.fetch_add(1, std::memory_order_relaxed);
  const int ready = ppoll(p, fds.size() + 1, &ts, nullptr);
  // Clear the flag before looking at the rings again: a worker that enqueues from now on either
  // finds it clear (and the caller's next turn sees its entry) or writes the eventfd (drained by
  // the next wait(), which then returns at once).
  sleeping_.store(false, std::memory_order_relaxed);
  bool by_event = false;
  if (ready > 0) {
    for (std::size_t i = 0; i < fds.size(); ++i) fds[i].revents = p[i + 1].revents;
    if (p[0].revents & POLLIN) {
      uint64_t v;
      while (read(fd_, &v, sizeof v) == static_cast<ssize_t>(sizeof v)) {
      }
      by_event = true;
      woken_.fetch_add(1, std::memory_order_relaxed);
    }
  } else {
    for (pollfd& f : fds) f.revents = 0;
  }
  return by_event;
}

}  // namespace esprit
