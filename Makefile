# zsa — plain Makefile.
#   make            build everything (build/bin/zsa-gateway, zsa-worker, zsa-scheduler)
#   make test       unit tests under ASan/UBSan, integration tests, 5 s of each fuzz target, docs,
#                   format and lint checks
#   make demo       local stack (see README)
#   make bench      benchmarks (results go to docs/BENCHMARKS.md by hand, with date and machine)
#   make asan       build everything with AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz       libFuzzer targets of tests/fuzz, FUZZ_SECONDS (60) each
#   make check-layers  no #include crosses a layer the wrong way; functions and files stay small
#   make check-scripts every Redis script call matches the script's declared KEYS and ARGV
#   make fmt / lint / docs / clean
# Every target installs missing Debian packages first (scripts/install-deps.sh).

BUILD   ?= build
SAN     ?= 0
CC      ?= cc
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)

CUDA_HOME ?= /usr/local/cuda
NVCC      ?= $(firstword $(wildcard $(CUDA_HOME)/bin/nvcc) $(shell command -v nvcc 2>/dev/null))
CUDA      ?= $(if $(NVCC),1,0)
V         ?= 0
Q         := $(if $(filter 1,$(V)),,@)

WARN     := -Wall -Wextra -Wshadow -Wformat=2 -Werror
CPPFLAGS := -I. -I$(BUILD)/gen -D_DEFAULT_SOURCE -DZSA_VERSION='"$(VERSION)"' -MMD -MP
CFLAGS   := -std=c11 -O2 -g $(WARN)
LDFLAGS  :=
LDLIBS   := -lhiredis -lmsgpackc -ljson-c -lssl -lcrypto -lm -lpthread -ldl
ANALYSIS_LIBS := -ltiff -lpng16 -lz
TEST_LIBS := -lcriterion -levent $(ANALYSIS_LIBS)

ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all \
            -fno-omit-frame-pointer
CFLAGS   := -std=c11 -O1 -g $(WARN) $(SANFLAGS)
LDFLAGS  += $(SANFLAGS)
endif

# libFuzzer targets (tests/fuzz): clang, instrumented for the fuzzer, ASan and UBSan
ifeq ($(SAN),fuzz)
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
            -fno-omit-frame-pointer
CFLAGS   := -std=c11 -O1 -g -Wall -Wextra -Wno-missing-field-initializers $(SANFLAGS)
LDFLAGS  += -fsanitize=address,undefined
endif

ifeq ($(CUDA),1)
CPPFLAGS += -DZSA_HAVE_CUDA
NVCCFLAGS := -O2 -I. -Xcompiler -Wall,-Wextra,-Werror
CUDA_LIBS := -L$(CUDA_HOME)/lib64 -lcudart_static -ldl -lrt -lpthread
endif

# ---- sources ------------------------------------------------------------------------------------
# Layers, each an archive (make check-layers keeps their #includes pointing down):
#   common < proto < store (Redis scripts, job control) < the daemons; proto < analysis < worker;
#   tools link what they use, never a daemon's archive.
LAYERS   := common proto store analysis
layer_src = $(wildcard $(1)/*.c)
LAYER_LIB = $(BUILD)/libzsa-$(1).a
LIB_common   := $(call LAYER_LIB,common)
LIB_proto    := $(call LAYER_LIB,proto)
LIB_store    := $(call LAYER_LIB,store)
LIB_analysis := $(call LAYER_LIB,analysis)

DAEMONS  := gateway worker scheduler
BINS     := $(DAEMONS:%=$(BUILD)/bin/zsa-%) $(BUILD)/bin/zsa-proto $(BUILD)/bin/zsa-synth \
            $(BUILD)/bin/zsa-analyze $(BUILD)/bin/zsa
# each daemon's code except main.c goes into its own archive, which its tests link too; the GPU
# probe (CUDA runtime) is the worker's alone
daemon_src = $(filter-out $(1)/main.c,$(wildcard $(1)/*.c))
DAEMON_CU_worker := $(if $(filter 1,$(CUDA)),$(wildcard worker/*.cu))
DLIBS    := $(DAEMONS:%=$(BUILD)/libzsa-%.a)
# what each daemon links below its own archive (in link order), and its system libraries
DAEMON_DEPS_gateway   := $(LIB_store) $(LIB_proto) $(LIB_common)
DAEMON_DEPS_worker    := $(LIB_store) $(LIB_analysis) $(LIB_proto) $(LIB_common)
DAEMON_DEPS_scheduler := $(LIB_store) $(LIB_proto) $(LIB_common)
DAEMON_LIBS_worker := -levent $(ANALYSIS_LIBS) $(CUDA_LIBS)
DAEMON_LIBS_gateway := -lwebsockets -luv
DAEMON_LIBS_scheduler := -levent
ALL_LIBS := $(DLIBS) $(LIB_store) $(LIB_analysis) $(LIB_proto) $(LIB_common)

HARNESS_SRC := $(wildcard tests/harness/*.c)
HARNESS_OBJ := $(HARNESS_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC    := $(wildcard tests/unit/*/*.c)
UNIT_BIN    := $(UNIT_SRC:%.c=$(BUILD)/%)
INTEG_SRC   := $(wildcard tests/integration/*.c)
INTEG_BIN   := $(INTEG_SRC:%.c=$(BUILD)/%)
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES  := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_BIN    := $(FUZZ_SRC:%.c=$(BUILD)/%)
BENCH_SRC   := $(wildcard bench/*.c)
BENCH_BIN   := $(BENCH_SRC:%.c=$(BUILD)/%)

# ---- dependency check: re-run make after installing so that everything is evaluated afresh -----
DEP_FILES := /usr/include/hiredis/hiredis.h /usr/include/libwebsockets.h /usr/include/uv.h \
             /usr/include/event2/event.h /usr/include/msgpack.h /usr/include/json-c/json.h \
             /usr/include/x86_64-linux-gnu/tiffio.h /usr/include/criterion/criterion.h \
             /usr/include/openssl/ssl.h /usr/include/zlib.h /usr/include/png.h /usr/bin/redis-server \
             /usr/bin/redis-cli /usr/bin/clang-format /usr/bin/cppcheck /usr/bin/python3 \
             /usr/lib/python3/dist-packages/skimage/__init__.py \
             /usr/lib/python3/dist-packages/scipy/__init__.py \
             /usr/lib/python3/dist-packages/tifffile/__init__.py \
             /usr/lib/python3/dist-packages/PIL/__init__.py /usr/sbin/nginx /usr/bin/docker-compose \
             /usr/bin/chromium /usr/bin/node /usr/bin/npm /usr/bin/clang /usr/bin/curl \
             /usr/bin/openssl /usr/bin/luac5.1 \
             /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a
DEP_MISSING := $(foreach f,$(DEP_FILES),$(if $(wildcard $(f)),,$(f)))

.PHONY: all build test demo bench fmt check-fmt lint asan docs check-docs clean deps unit integration \
        build-tests run-unit run-integration build-bench fuzz build-fuzz web-types check-web-types \
        web-test web-bundle check-layers check-scripts

all: deps
	@$(MAKE) --no-print-directory build

deps:
ifneq ($(strip $(DEP_MISSING)),)
	@echo "missing $(DEP_MISSING): installing with scripts/install-deps.sh"
	@scripts/install-deps.sh
endif

build: $(BINS)

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 build

# make test: unit tests under ASan/UBSan, integration tests against the ASan daemons, the
# release build (-O2 warnings differ), the generated protocol reference, formatting, cppcheck.
test: deps
	@$(MAKE) --no-print-directory build build-bench
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 build build-tests
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 run-unit
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 run-integration
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS)
	@$(MAKE) --no-print-directory check-layers check-scripts check-docs check-fmt lint web-test
	@echo "make test: all passed"

unit: deps
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 build build-tests run-unit

integration: deps
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 build build-tests run-integration

build-tests: $(UNIT_BIN) $(INTEG_BIN)

# ASan: fail on leaks too. protect_shadow_gap=0 lets the CUDA runtime map its memory.
# ZSA_AUTH=off: gateways started by tests of other features run without tokens (logged); the
# access-control tests (test_auth, tests/node/auth.mjs) pass --auth=required and keys.
TEST_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:protect_shadow_gap=0 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ZSA_BIN_DIR=$(abspath $(BUILD)/bin) \
            ZSA_AUTH=off

run-unit: $(UNIT_BIN)
	@$(TEST_ENV) scripts/run-tests.sh $(UNIT_BIN)

# the independent clients of tests/node (Node's ws and @msgpack/msgpack), from the committed lock
NODE_DEPS := tests/node/node_modules/.package-lock.json
# web/ (npm workspaces: @zsa/client, TypeScript, Vitest), from its committed lock
WEB_DEPS := web/node_modules/.package-lock.json

run-integration: $(INTEG_BIN) $(BINS) $(NODE_DEPS) $(WEB_DEPS)
	@$(TEST_ENV) scripts/run-tests.sh $(INTEG_BIN)

$(WEB_DEPS): web/package.json web/package-lock.json web/client/package.json web/react/package.json \
             web/dashboard/package.json
	@echo "  NPM   web (npm ci)"
	$(Q)cd web && npm ci --no-audit --no-fund --loglevel=error

# web/: the message types generated from proto/schema.h (make web-types rewrites them; make test
# fails when they are stale), the TypeScript check, and the unit tests (Vitest, fake timers)
web-types: $(BUILD)/bin/zsa-proto
	@$(BUILD)/bin/zsa-proto ts > web/client/src/messages.gen.ts
	@echo "web-types: regenerated web/client/src/messages.gen.ts"

check-web-types: $(BUILD)/bin/zsa-proto
	@$(BUILD)/bin/zsa-proto ts | cmp -s - web/client/src/messages.gen.ts || \
	  { echo "web/client/src/messages.gen.ts is out of date: run make web-types" >&2; exit 1; }

web-test: $(WEB_DEPS) check-web-types
	@cd web && npm run -s typecheck && NO_COLOR=1 npm run -s test && npm run -s check-bundle

# the dashboard (web/dashboard, React) bundled into gateway/dashboard/index.html, which the C
# build embeds; committed, so building the C code never needs npm
web-bundle: $(WEB_DEPS)
	@cd web && npm run -s bundle

$(NODE_DEPS): tests/node/package.json tests/node/package-lock.json
	@echo "  NPM   tests/node (npm ci)"
	$(Q)cd tests/node && npm ci --no-audit --no-fund --loglevel=error

demo: all
	@scripts/demo.sh

bench: deps
	@$(MAKE) --no-print-directory build build-bench
	@set -e; for b in $(BENCH_BIN); do echo "== $$b"; $$b; done
	@echo "== bench/bench_analysis.py"; /usr/bin/python3 bench/bench_analysis.py $(BUILD)/bin

build-bench: $(BENCH_BIN)

# make fuzz: every libFuzzer target for FUZZ_SECONDS each, from its seed corpus
# (tests/fuzz/corpus/<name>, kept in the repo) and a working corpus in build/fuzz/corpus/<name>;
# a crash stops with the input saved as build/fuzz/crash-*. make test runs each briefly.
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5
fuzz: deps
	@$(MAKE) --no-print-directory BUILD=build/fuzz SAN=fuzz CC=clang CUDA=0 build-fuzz
	@set -e; for n in $(FUZZ_NAMES); do \
	  mkdir -p build/fuzz/corpus/$$n; \
	  printf '== fuzz_%s (%s s): ' $$n $(FUZZ_SECONDS); \
	  build/fuzz/tests/fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
	    -artifact_prefix=build/fuzz/crash-$$n- -print_final_stats=1 \
	    build/fuzz/corpus/$$n tests/fuzz/corpus/$$n 2>build/fuzz/$$n.log \
	    || { cat build/fuzz/$$n.log; exit 1; }; \
	  grep -E '^stat::number_of_executed_units' build/fuzz/$$n.log | sed 's/.*: */executions /'; \
	done

build-fuzz: $(FUZZ_BIN)

docs: $(BUILD)/bin/zsa-proto $(BUILD)/bin/zsa-analyze
	@scripts/gen-protocol-doc.sh $(BUILD)/bin/zsa-proto docs/PROTOCOL.md
	@python3 scripts/splice-doc.py algorithms docs/PROTOCOL.md $(BUILD)/bin/zsa-analyze --doc
	@python3 scripts/splice-doc.py "job hash" docs/PROTOCOL.md python3 scripts/gen-store-doc.py table

check-docs: $(BUILD)/bin/zsa-proto $(BUILD)/bin/zsa-analyze
	@scripts/gen-protocol-doc.sh --check $(BUILD)/bin/zsa-proto docs/PROTOCOL.md
	@python3 scripts/splice-doc.py --check algorithms docs/PROTOCOL.md $(BUILD)/bin/zsa-analyze --doc
	@python3 scripts/splice-doc.py --check "job hash" docs/PROTOCOL.md python3 scripts/gen-store-doc.py table

# make check-layers: every #include points down the layers (scripts/check-layers.py says which
# may include which); its self-test plants wrong-way includes in a copy and expects each refused
check-layers:
	@python3 scripts/check-layers.py
	@python3 scripts/check-layers.py --self-test
	@python3 scripts/check-sizes.py

# make check-scripts: every Redis script call site names only its script's slots and sets every
# fixed one (scripts/check-script-calls.py); then a planted wrong call must be refused
check-scripts: $(BUILD)/gen/store/scripts_gen.h
	@python3 scripts/check-script-calls.py $< gateway worker scheduler store tests/harness tools bench
	@python3 scripts/gen-store-doc.py writers
	@d=$$(mktemp -d) && printf '%s\n' 'void f(void)' '{' '    st_call_init(&c, ST_SCRIPT_CANCEL);' \
	  '    st_call_key(&c, ST_RETRY_K_JOB, "x");' '}' > $$d/planted.c && \
	  ! python3 scripts/check-script-calls.py $< $$d 2>$$d/err && \
	  grep -q "ST_RETRY_K_JOB is retry's slot" $$d/err && grep -q "ST_CANCEL_A_NOW_MS is never set" $$d/err \
	  && rm -rf $$d && echo "check-scripts self-test: a planted wrong call is refused" || \
	  { echo "check-scripts: the planted wrong call was not refused" >&2; cat $$d/err >&2; rm -rf $$d; exit 1; }

FMT_FILES = $(shell git ls-files '*.c' '*.h' '*.cu' 2>/dev/null)
fmt: deps
	@clang-format -i $(FMT_FILES)

check-fmt:
	@clang-format --dry-run --Werror $(FMT_FILES) || \
	  { echo "format: run 'make fmt' and commit the result" >&2; exit 1; }

lint: deps $(BUILD)/gen/store/scripts_gen.h
	@cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,performance,portability \
	  --inline-suppr --suppress=missingIncludeSystem --suppress=unknownMacro:tests/* \
	  -I. -I$(BUILD)/gen -D_DEFAULT_SOURCE \
	  common proto store analysis gateway worker scheduler tools tests bench
	@python3 scripts/gen-scripts.py --lint store/lua

clean:
	rm -rf build

# ---- rules --------------------------------------------------------------------------------------
# the analysis engine's loops are written to vectorize: -O3 (not under the sanitizers' -O1)
ifneq ($(SAN),1)
$(BUILD)/obj/analysis/%.o: CFLAGS += -O3
endif

$(BUILD)/obj/%.o: %.c | $(BUILD)/gen/store/scripts_gen.h
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC    $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.cu.o: %.cu
	@mkdir -p $(@D)
	@$(if $(Q),echo "  NVCC  $@")
	$(Q)$(NVCC) $(NVCCFLAGS) -c $< -o $@

# the Redis scripts: store/lua/*.lua, declared and embedded by scripts/gen-scripts.py; every
# object waits for the generated header (after the first build, -MMD knows who includes it)
SCRIPTS_GEN := $(BUILD)/gen/store/scripts_gen.h $(BUILD)/gen/store/scripts_gen.c
$(SCRIPTS_GEN) &: $(wildcard store/lua/*.lua) scripts/gen-scripts.py
	@$(if $(Q),echo "  GEN   $(BUILD)/gen/store/scripts_gen.c .h")
	$(Q)python3 scripts/gen-scripts.py store/lua $(BUILD)/gen
LAYER_OBJS_store := $(BUILD)/obj/$(BUILD)/gen/store/scripts_gen.o

define layer_rules
$(call LAYER_LIB,$(1)): $(patsubst %.c,$(BUILD)/obj/%.o,$(call layer_src,$(1))) $(LAYER_OBJS_$(1))
	@mkdir -p $$(@D)
	@$$(if $(Q),echo "  AR    $$@")
	$(Q)rm -f $$@ && $(AR) rcs $$@ $$^
endef
$(foreach l,$(LAYERS),$(eval $(call layer_rules,$(l))))

# files embedded in a daemon (generated C arrays)
GEN := $(BUILD)/gen
DAEMON_OBJS_gateway := $(BUILD)/obj/$(GEN)/dashboard.o
$(GEN)/dashboard.c: gateway/dashboard/index.html scripts/embed-file.py
	@mkdir -p $(@D)
	@$(if $(Q),echo "  GEN   $@")
	$(Q)python3 scripts/embed-file.py gw_dashboard_html $< $@

define daemon_rules
$(BUILD)/libzsa-$(1).a: $(patsubst %.c,$(BUILD)/obj/%.o,$(call daemon_src,$(1))) \
                        $(patsubst %.cu,$(BUILD)/obj/%.cu.o,$(DAEMON_CU_$(1))) $(DAEMON_OBJS_$(1))
	@mkdir -p $$(@D)
	@$$(if $(Q),echo "  AR    $$@")
	$(Q)rm -f $$@ && $(AR) rcs $$@ $$^

$(BUILD)/bin/zsa-$(1): $(BUILD)/obj/$(1)/main.o $(BUILD)/libzsa-$(1).a $(DAEMON_DEPS_$(1))
	@mkdir -p $$(@D)
	@$$(if $(Q),echo "  LD    $$@")
	$(Q)$(CC) $(LDFLAGS) $$^ -o $$@ $(DAEMON_LIBS_$(1)) $(LDLIBS)
endef
$(foreach d,$(DAEMONS),$(eval $(call daemon_rules,$(d))))

# the analysis tools link the analysis library (algorithms, engine), not the worker
$(BUILD)/bin/zsa-synth $(BUILD)/bin/zsa-analyze: $(BUILD)/bin/zsa-%: $(BUILD)/obj/tools/zsa_%.o \
                                                $(LIB_analysis) $(LIB_proto) $(LIB_common)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ $(ANALYSIS_LIBS) $(LDLIBS)

# the CLI: REST and WebSocket to a gateway (common/wsclient), no Redis
CLI_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tools/cli/*.c))
$(BUILD)/bin/zsa: $(BUILD)/obj/tools/zsa_cli.o $(CLI_OBJ) $(LIB_proto) $(LIB_common)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ -lz $(LDLIBS)

$(BUILD)/bin/zsa-proto: $(BUILD)/obj/proto/tools/zsa_proto.o $(LIB_proto) $(LIB_common)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(HARNESS_OBJ) $(ALL_LIBS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ $(TEST_LIBS) $(LDLIBS) $(CUDA_LIBS)

$(BUILD)/tests/fuzz/%: $(BUILD)/obj/tests/fuzz/%.o $(ALL_LIBS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(LDFLAGS) -fsanitize=fuzzer $^ -o $@ -lwebsockets -luv -levent $(ANALYSIS_LIBS) $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(HARNESS_OBJ) $(ALL_LIBS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ -levent $(ANALYSIS_LIBS) $(LDLIBS) $(CUDA_LIBS)

.SECONDARY:

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
