#include "kvlink/serve/chat_stream.h"

namespace kvlink {

void ChatStream::push(ChatEvent e) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(e));
  }
  cv_.notify_all();
}

std::optional<ChatEvent> ChatStream::next(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
  ChatEvent e = std::move(events_.front());
  events_.pop_front();
  return e;
}

}  // namespace kvlink
