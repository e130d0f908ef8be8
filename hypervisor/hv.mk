# Hypervisor build rules (included by hypervisor/Makefile).
#
# Two ELFs from the same sources, differing in one -D flag:
#   hypervisor.elf         HV_HENVCFG_ADUE=1  sets henvcfg.ADUE (the fix)
#   hypervisor-noadue.elf  HV_HENVCFG_ADUE=0  leaves it as reset left it
# Each embeds $(OUT)/guest.bin (see guest_image.S).
#
# Fault builds (README.md, "Fault builds"), each hypervisor.elf's sources plus
# fault.c with one more -D flag, or hypervisor.elf around a fault build of
# the guest:
#   hypervisor-nodeleg.elf        HV_FAULT_NODELEG      hedeleg without ecall from U
#   hypervisor-gstage-hole.elf    HV_FAULT_GSTAGE_HOLE  a 4 KiB hole in guest RAM
#   hypervisor-mmio-hole.elf      HV_FAULT_MMIO_HOLE    vm1's console page unmapped
#   hypervisor-guest-nostvec.elf  embeds guest-nostvec.bin
#   hypervisor-guest-illegal.elf  embeds guest-illegal.bin
#   hypervisor-guest-notimer.elf  embeds guest-notimer.bin

HV_SRCS := entry.S trapvec.S guest_image.S main.c hart.c vm.c trap.c vsbi.c \
	sbi.c pci.c uart.c printf.c string.c
# The make files are prerequisites too: a changed flag (HV_HENVCFG_ADUE in
# this file, say) must rebuild, or git bisect would test stale objects.
HV_HDRS := $(wildcard $(SRC)/*.h) $(SRC)/hv.mk $(SRC)/Makefile

# No -march H spelling needed: riscv.h uses CSR numbers and .insn (see there).
# -fno-tree-loop-distribute-patterns keeps GCC from turning memset's own loop
# into a call to memset.
HV_CFLAGS_NOBIN := $(BASE_CFLAGS) -I$(SRC) -fno-tree-loop-distribute-patterns
HV_CFLAGS := $(HV_CFLAGS_NOBIN) -DGUEST_BIN='"$(OUT)/guest.bin"'

# $(call hv_variant,name,flags)
define hv_variant
$(OUT)/obj/$(1)/%.o: $(SRC)/%.c $(HV_HDRS) | $(OUT)/obj/$(1)
	$$(CC) $$(HV_CFLAGS) $(2) -c -o $$@ $$<
$(OUT)/obj/$(1)/%.o: $(SRC)/%.S $(HV_HDRS) | $(OUT)/obj/$(1)
	$$(CC) $$(HV_CFLAGS) $(2) -c -o $$@ $$<
$(OUT)/obj/$(1)/guest_image.o: $(OUT)/guest.bin
$(OUT)/obj/$(1):
	mkdir -p $$@
-include $(wildcard $(OUT)/obj/$(1)/*.d)
endef

$(eval $(call hv_variant,hv-adue,-DHV_HENVCFG_ADUE=1))
$(eval $(call hv_variant,hv-noadue,-DHV_HENVCFG_ADUE=0))

HV_ADUE_OBJS   := $(addprefix $(OUT)/obj/hv-adue/,$(addsuffix .o,$(basename $(HV_SRCS))))
HV_NOADUE_OBJS := $(addprefix $(OUT)/obj/hv-noadue/,$(addsuffix .o,$(basename $(HV_SRCS))))

$(OUT)/hypervisor.elf: $(HV_ADUE_OBJS) $(SRC)/hv.ld
	$(CC) $(BASE_CFLAGS) $(BASE_LDFLAGS) -T $(SRC)/hv.ld -o $@ $(HV_ADUE_OBJS)

$(OUT)/hypervisor-noadue.elf: $(HV_NOADUE_OBJS) $(SRC)/hv.ld
	$(CC) $(BASE_CFLAGS) $(BASE_LDFLAGS) -T $(SRC)/hv.ld -o $@ $(HV_NOADUE_OBJS)

# Fault builds of the hypervisor: hypervisor.elf's flags, one HV_FAULT_* flag
# more, and fault.c (linked last, so the other objects keep their order).
HV_FAULTS := nodeleg gstage-hole mmio-hole
HV_FAULT_FLAG_nodeleg     := -DHV_FAULT_NODELEG
HV_FAULT_FLAG_gstage-hole := -DHV_FAULT_GSTAGE_HOLE
HV_FAULT_FLAG_mmio-hole   := -DHV_FAULT_MMIO_HOLE

$(foreach f,$(HV_FAULTS),$(eval $(call hv_variant,hv-$(f),-DHV_HENVCFG_ADUE=1 $(HV_FAULT_FLAG_$(f)))))

# $(call hv_fault,name)
define hv_fault
HV_FAULT_OBJS_$(1) := $$(addprefix $(OUT)/obj/hv-$(1)/,$$(addsuffix .o,$$(basename $$(HV_SRCS) fault.c)))
$(OUT)/hypervisor-$(1).elf: $$(HV_FAULT_OBJS_$(1)) $(SRC)/hv.ld
	$$(CC) $$(BASE_CFLAGS) $$(BASE_LDFLAGS) -T $(SRC)/hv.ld -o $$@ $$(HV_FAULT_OBJS_$(1))
endef

$(foreach f,$(HV_FAULTS),$(eval $(call hv_fault,$(f))))

# hypervisor.elf around a fault build of the guest (guest.mk): the same
# objects, except that guest_image.o embeds guest-NAME.bin.
# $(call hv_guest_fault,name)
define hv_guest_fault
HV_GUEST_FAULT_OBJS_$(1) := $$(patsubst $(OUT)/obj/hv-adue/guest_image.o,$(OUT)/obj/hv-guest-$(1)/guest_image.o,$$(HV_ADUE_OBJS))
$(OUT)/obj/hv-guest-$(1)/guest_image.o: $(SRC)/guest_image.S $(OUT)/guest-$(1).bin
	@mkdir -p $$(@D)
	$$(CC) $$(HV_CFLAGS_NOBIN) -DGUEST_BIN='"$(OUT)/guest-$(1).bin"' -DHV_HENVCFG_ADUE=1 -c -o $$@ $$<
$(OUT)/hypervisor-guest-$(1).elf: $$(HV_GUEST_FAULT_OBJS_$(1)) $(SRC)/hv.ld
	$$(CC) $$(BASE_CFLAGS) $$(BASE_LDFLAGS) -T $(SRC)/hv.ld -o $$@ $$(HV_GUEST_FAULT_OBJS_$(1))
-include $(wildcard $(OUT)/obj/hv-guest-$(1)/*.d)
endef

$(foreach f,$(GUEST_FAULTS),$(eval $(call hv_guest_fault,$(f))))

all: $(HV_FAULTS:%=$(OUT)/hypervisor-%.elf) $(GUEST_FAULTS:%=$(OUT)/hypervisor-guest-%.elf)

# Fixture builds (README.md, "Fixture builds"): they boot, doing what
# hypervisors written elsewhere do. hypervisor.elf's sources plus fixture.c,
# with one more -D flag; or hypervisor.elf around a fixture build of the guest.
#   hypervisor-slowstart.elf  HV_FIXTURE_SLOWSTART  seconds of silent set-up before hart_start
#   hypervisor-mmio-poll.elf  HV_FIXTURE_MMIO_POLL  consoles trap-and-emulate, LSR polled busy
#   hypervisor-stress.elf     embeds guest-stress.bin (the shell's `stress` builtin)
#   hypervisor-hotpage.elf    embeds guest-hotpage.bin (a RAM scrub on kvminithart's page)
#   hypervisor-sbi-panic.elf  HV_FIXTURE_SBI_PANIC  hangs on purpose: VM0 only, its RAM not
#                             executable, the error printed through SBI, the other harts idle
#   hypervisor-no-vsti.elf    HV_FIXTURE_NO_VSTI  hangs on purpose: hideleg leaves out the VS
#                             timer interrupt, so the guests never get their timer
#   hypervisor-emul-htinst.elf  HV_FIXTURE_EMUL_HTINST  vm0's console trap-and-emulate,
#                             decoded from htinst alone: boots on QEMU >= 8.0, panics
#                             and parks hart 0 on 7.2 (htinst 0)
#   hypervisor-nocounters.elf  HV_FIXTURE_NOCOUNTERS  hangs on purpose: hcounteren 0,
#                             the guest's rdtime (cause 22) forwarded to it as an
#                             illegal instruction; guest.elf's kerneltrap panics
#   hypervisor-nocounters-spin.elf  the same around guest-spintrap.bin, whose
#                             trap vector spins silently in `j .`
#   hypervisor-logged-uart.elf  HV_FIXTURE_LOGGED_UART  vm0's console trap-and-emulate,
#                             a line of the hypervisor's log inside vm0's boot line
HV_FIXTURES := slowstart mmio-poll reentry sbi-panic no-vsti emul-htinst nocounters logged-uart
HV_FIXTURE_FLAG_slowstart := -DHV_FIXTURE_SLOWSTART
HV_FIXTURE_FLAG_mmio-poll := -DHV_FIXTURE_MMIO_POLL
HV_FIXTURE_FLAG_reentry   := -DHV_FIXTURE_REENTRY
HV_FIXTURE_FLAG_sbi-panic := -DHV_FIXTURE_SBI_PANIC
HV_FIXTURE_FLAG_no-vsti   := -DHV_FIXTURE_NO_VSTI
HV_FIXTURE_FLAG_emul-htinst := -DHV_FIXTURE_EMUL_HTINST
HV_FIXTURE_FLAG_nocounters := -DHV_FIXTURE_NOCOUNTERS
HV_FIXTURE_FLAG_logged-uart := -DHV_FIXTURE_LOGGED_UART

$(foreach f,$(HV_FIXTURES),$(eval $(call hv_variant,hv-$(f),-DHV_HENVCFG_ADUE=1 $(HV_FIXTURE_FLAG_$(f)))))

# $(call hv_fixture,name)
define hv_fixture
HV_FIXTURE_OBJS_$(1) := $$(addprefix $(OUT)/obj/hv-$(1)/,$$(addsuffix .o,$$(basename $$(HV_SRCS) fixture.c)))
$(OUT)/hypervisor-$(1).elf: $$(HV_FIXTURE_OBJS_$(1)) $(SRC)/hv.ld
	$$(CC) $$(BASE_CFLAGS) $$(BASE_LDFLAGS) -T $(SRC)/hv.ld -o $$@ $$(HV_FIXTURE_OBJS_$(1))
endef

$(foreach f,$(HV_FIXTURES),$(eval $(call hv_fixture,$(f))))

HV_STRESS_OBJS := $(patsubst $(OUT)/obj/hv-adue/guest_image.o,$(OUT)/obj/hv-stress/guest_image.o,$(HV_ADUE_OBJS))
$(OUT)/obj/hv-stress/guest_image.o: $(SRC)/guest_image.S $(OUT)/guest-stress.bin
	@mkdir -p $(@D)
	$(CC) $(HV_CFLAGS_NOBIN) -DGUEST_BIN='"$(OUT)/guest-stress.bin"' -DHV_HENVCFG_ADUE=1 -c -o $@ $<
$(OUT)/hypervisor-stress.elf: $(HV_STRESS_OBJS) $(SRC)/hv.ld
	$(CC) $(BASE_CFLAGS) $(BASE_LDFLAGS) -T $(SRC)/hv.ld -o $@ $(HV_STRESS_OBJS)
-include $(wildcard $(OUT)/obj/hv-stress/*.d)


HV_HOTPAGE_OBJS := $(patsubst $(OUT)/obj/hv-adue/guest_image.o,$(OUT)/obj/hv-hotpage/guest_image.o,$(HV_ADUE_OBJS))
$(OUT)/obj/hv-hotpage/guest_image.o: $(SRC)/guest_image.S $(OUT)/guest-hotpage.bin
	@mkdir -p $(@D)
	$(CC) $(HV_CFLAGS_NOBIN) -DGUEST_BIN='"$(OUT)/guest-hotpage.bin"' -DHV_HENVCFG_ADUE=1 -c -o $@ $<
$(OUT)/hypervisor-hotpage.elf: $(HV_HOTPAGE_OBJS) $(SRC)/hv.ld
	$(CC) $(BASE_CFLAGS) $(BASE_LDFLAGS) -T $(SRC)/hv.ld -o $@ $(HV_HOTPAGE_OBJS)
-include $(wildcard $(OUT)/obj/hv-hotpage/*.d)

all: $(HV_FIXTURES:%=$(OUT)/hypervisor-%.elf) $(OUT)/hypervisor-stress.elf $(OUT)/hypervisor-hotpage.elf

# hypervisor-nohenvcfg.elf  HV_NO_HENVCFG: never writes henvcfg (the CSR stays
# as reset left it: ADUE on QEMU 8.x, 0 from 9.0), for `csr-trace` and the
# ADUE diagnosis's "nothing writes it" case.
$(eval $(call hv_variant,hv-nohenvcfg,-DHV_HENVCFG_ADUE=0 -DHV_NO_HENVCFG))
HV_NOHENVCFG_OBJS := $(addprefix $(OUT)/obj/hv-nohenvcfg/,$(addsuffix .o,$(basename $(HV_SRCS))))
$(OUT)/hypervisor-nohenvcfg.elf: $(HV_NOHENVCFG_OBJS) $(SRC)/hv.ld
	$(CC) $(BASE_CFLAGS) $(BASE_LDFLAGS) -T $(SRC)/hv.ld -o $@ $(HV_NOHENVCFG_OBJS)

all: $(OUT)/hypervisor-nohenvcfg.elf

# hypervisor-henvcfg-again.elf  HV_HENVCFG_AGAIN: hypervisor.elf, and hart 0
# sets henvcfg.STCE three more times from one instruction (a writer that runs
# more than once on a hart), for `csr-trace`'s count of unrecorded hits.
$(eval $(call hv_variant,hv-henvcfg-again,-DHV_HENVCFG_ADUE=1 -DHV_HENVCFG_AGAIN))
HV_HENVCFG_AGAIN_OBJS := $(addprefix $(OUT)/obj/hv-henvcfg-again/,$(addsuffix .o,$(basename $(HV_SRCS))))
$(OUT)/hypervisor-henvcfg-again.elf: $(HV_HENVCFG_AGAIN_OBJS) $(SRC)/hv.ld
	$(CC) $(BASE_CFLAGS) $(BASE_LDFLAGS) -T $(SRC)/hv.ld -o $@ $(HV_HENVCFG_AGAIN_OBJS)

all: $(OUT)/hypervisor-henvcfg-again.elf

# The high-linked fixture (README.md, "Fixture builds"): hypervisor.elf's
# sources with entry-high.S in place of entry.S and highboot.c in place of
# fixture.c, linked by hv-high.ld at 0xffffffc080200000, loaded at 0x80200000.
#   hypervisor-highboot.elf   HV_FIXTURE_HIGHBOOT  hangs on purpose: every hart
#                             turns its MMU on through a fetch fault (cause 12);
#                             VM0's entry page not executable (cause 20), the
#                             error through SBI; the other harts idle
$(eval $(call hv_variant,hv-highboot,-DHV_HENVCFG_ADUE=1 -DHV_FIXTURE_HIGHBOOT))
HV_HIGHBOOT_OBJS := $(addprefix $(OUT)/obj/hv-highboot/,$(addsuffix .o,$(basename $(filter-out entry.S,$(HV_SRCS)) entry-high.S highboot.c)))
$(OUT)/hypervisor-highboot.elf: $(HV_HIGHBOOT_OBJS) $(SRC)/hv-high.ld
	$(CC) $(BASE_CFLAGS) $(BASE_LDFLAGS) -T $(SRC)/hv-high.ld -o $@ $(HV_HIGHBOOT_OBJS)

all: $(OUT)/hypervisor-highboot.elf
# hypervisor-nocounters.elf's objects around guest-spintrap.bin.
HV_NOCSPIN_OBJS := $(patsubst $(OUT)/obj/hv-nocounters/guest_image.o,$(OUT)/obj/hv-nocounters-spin/guest_image.o,$(HV_FIXTURE_OBJS_nocounters))
$(OUT)/obj/hv-nocounters-spin/guest_image.o: $(SRC)/guest_image.S $(OUT)/guest-spintrap.bin
	@mkdir -p $(@D)
	$(CC) $(HV_CFLAGS_NOBIN) -DGUEST_BIN='"$(OUT)/guest-spintrap.bin"' -DHV_HENVCFG_ADUE=1 $(HV_FIXTURE_FLAG_nocounters) -c -o $@ $<
$(OUT)/hypervisor-nocounters-spin.elf: $(HV_NOCSPIN_OBJS) $(SRC)/hv.ld
	$(CC) $(BASE_CFLAGS) $(BASE_LDFLAGS) -T $(SRC)/hv.ld -o $@ $(HV_NOCSPIN_OBJS)
-include $(wildcard $(OUT)/obj/hv-nocounters-spin/*.d)

all: $(OUT)/hypervisor-nocounters-spin.elf
