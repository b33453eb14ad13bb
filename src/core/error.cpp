#include <vramcalc/error.hpp>

namespace vramcalc {

InputError::InputError(std::string field, std::string value, const std::string& problem)
    : std::runtime_error(field + ": '" + value + "': " + problem),
      field_(std::move(field)),
      value_(std::move(value)) {}

}  // namespace vramcalc
