#pragma once
// Exit statuses: the CI check reads 1 as "does not fit" (after grep/ripgrep's 0/1/2).

namespace vramcalc::cli {

enum ExitCode : int {
  kExitOk = 0,          // estimate printed; fits, or no GPU/budget given
  kExitDoesNotFit = 1,  // a GPU or budget was given and the run does not fit
  kExitUsage = 2,       // usage or input error
};

}  // namespace vramcalc::cli
