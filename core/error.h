#pragma once
// pgcdc's one error model: every error pgcdc raises is an Error with a kind, which says what
// waiting can do about it. daemon/session_outcome.h maps a kind to what the daemon does (retry,
// stop, stand by), in one place; the code that raises an error only says what it is.
#include <exception>
#include <stdexcept>
#include <string>

namespace pgcdc {

enum class ErrorKind {
  // Waiting mends it: a server restarting, a network gone, brokers down, a producer that must be
  // recreated. The session ends and a new one starts from the last committed position.
  kTransient,
  // A person must act: a setting, a privilege, a missing object, a record the destination refuses
  // for good. Retrying would meet it again; the daemon stops with a message naming the fix.
  kNeedsPerson,
  // The replication stream cannot be decoded: pgcdc cannot tell what changed, so it stops
  // rather than skip or guess.
  kDecode,
  // Not a failure: another instance holds what this one needs (the replication slot). The daemon
  // stands by and looks again.
  kStandby,
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

// The kind of any exception: an Error's own. Anything else (a library's exception, memory running
// out) needs a person: nothing says that waiting mends it.
inline ErrorKind kind_of(const std::exception& error) {
  const auto* own = dynamic_cast<const Error*>(&error);
  return own ? own->kind() : ErrorKind::kNeedsPerson;
}

}  // namespace pgcdc
