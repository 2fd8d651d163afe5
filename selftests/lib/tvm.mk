# SPDX-License-Identifier: GPL-2.0
#
# Include from a selftests Makefile to build VM tests with the guest runtime:
#
#   include ../lib/tvm.mk
#   mytest: mytest.c $(TVM_DEPS)
#   	$(CC) $(TVM_CFLAGS) -o $@ $< $(TVM_SRCS) $(TVM_LDFLAGS)
#
# Test binaries must be static and non-PIE: the runtime copies the program's
# own PT_LOAD segments into guest memory at gpa == vaddr.
TVM_DIR     := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
TVM_INC     := $(abspath $(TVM_DIR)/../include)
TVM_SRCS    := $(TVM_DIR)/guest.c
TVM_DEPS    := $(TVM_SRCS) $(TVM_DIR)/guest.h $(TVM_INC)/vmtest.h
TVM_CFLAGS  := -std=gnu11 -O2 -g -Wall -Wextra -Werror -fno-pie -pthread \
               -I$(TVM_INC) -I$(TVM_DIR)
TVM_LDFLAGS := -static -no-pie -pthread
