// Placeholder while the retrieval issue is built.
#include <gtest/gtest.h>
