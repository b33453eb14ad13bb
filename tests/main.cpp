// The Catch2 runner; tests live in the *_test.cpp files.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
