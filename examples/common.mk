# Shared rules for the examples: template -> manifest -> signed manifest.
# Each example sets APP and MANIFEST_DEFINES, then includes this file.
ROOT        := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
NACRE       ?= $(ROOT)/bin/nacre
KEY         ?= $(HOME)/.config/nacre/enclave-key.pem
ARCH_LIBDIR ?= /lib/$(shell uname -m)-linux-gnu
LOG_LEVEL   ?= error

.PHONY: all clean
all: $(APP).manifest.sgx

$(NACRE):
	$(MAKE) -C $(ROOT) build

$(KEY): | $(NACRE)
	$(NACRE) gen-key $(KEY)

$(APP).manifest: $(APP).manifest.template $(EXTRA_DEPS) | $(NACRE)
	$(NACRE) manifest -Dlog_level=$(LOG_LEVEL) -Darch_libdir=$(ARCH_LIBDIR) $(MANIFEST_DEFINES) $< $@

$(APP).manifest.sgx: $(APP).manifest $(KEY)
	$(NACRE) sign --key $(KEY) --manifest $< --output $@

clean::
	rm -f $(APP).manifest $(APP).manifest.sgx $(APP).manifest.sgx.chunks OUTPUT
