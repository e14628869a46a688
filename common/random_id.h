// Random identifiers (store and collection identities, session and request ids): `bytes`
// bytes from std::random_device, as 2 × bytes lower-case hex digits.
#pragma once

#include <cstddef>
#include <string>

namespace engram {

std::string RandomHex(size_t bytes);

}  // namespace engram
