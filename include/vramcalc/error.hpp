#pragma once
/// The one error type the core library throws: bad input, named by field and value.

#include <stdexcept>
#include <string>

namespace vramcalc {

/// A user input (model config field, CLI flag, config file) that cannot be used.
/// `what()` is a complete one-line message that names the field and the value.
class InputError : public std::runtime_error {
 public:
  InputError(std::string field, std::string value, const std::string& problem);
  const std::string& field() const { return field_; }
  const std::string& value() const { return value_; }

 private:
  std::string field_;
  std::string value_;
};

}  // namespace vramcalc
