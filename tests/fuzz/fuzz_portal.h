#pragma once
// The world the API fuzz targets run against: a real Portal and Api on a RocksDB in a
// temporary directory (in /dev/shm when there is one, so that fsyncs cost little),
// made on first use and removed at exit. It holds the company "fuzz" with its owner
// signed in, a user, a group and a resource, whose ids replace the placeholders
// "$U" "$G" "$R" "$O" (and "$T", the owner's token) in what the fuzzer sends.
//
// One thread at a time.

#include <memory>
#include <string>

#include "src/http/http_message.h"

namespace portal::fuzz {

class FuzzPortal {
 public:
  static FuzzPortal& get();
  ~FuzzPortal();
  FuzzPortal(const FuzzPortal&) = delete;
  FuzzPortal& operator=(const FuzzPortal&) = delete;

  // Runs Api::handle and checks the answer: never a 5xx, errors as problem+json
  // whose status is the answer's, JSON bodies that parse, no line break in a header.
  HttpResponse handle(const HttpRequest& request);

  // `text` with the placeholders replaced by the ids (and "$T" by the token).
  std::string substitute(std::string text) const;
  const std::string& ownerToken() const;

 private:
  FuzzPortal();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace portal::fuzz
