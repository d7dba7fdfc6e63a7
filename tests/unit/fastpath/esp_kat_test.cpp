// Known-answer tests: placeholder, replaced with published ESP vectors.
#include <gtest/gtest.h>
