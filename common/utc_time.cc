#include "common/utc_time.h"

#include <chrono>
#include <cstdio>

namespace engram {

std::string FormatUtcTime(int64_t epoch_ms) {
  using namespace std::chrono;
  const sys_time<milliseconds> t{milliseconds(epoch_ms)};
  const sys_days d = floor<days>(t);
  const year_month_day date{d};
  const hh_mm_ss<milliseconds> hms{t - d};
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  std::string out = buf;
  if (hms.subseconds().count() != 0) {
    std::snprintf(buf, sizeof buf, ".%03d", static_cast<int>(hms.subseconds().count()));
    out += buf;
  }
  return out + "Z";
}

}  // namespace engram
