# Guest kernel build rules (included by hypervisor/Makefile).
#
#   $(OUT)/guest.elf   the kernel, with debug info, linked at 0x80200000
#   $(OUT)/guest.bin   the same as a flat image from 0x80200000 (no .bss),
#                      which the hypervisor embeds and loads there
#   $(OUT)/guest-NAME.elf, .bin
#                      fault builds (../README.md, "Fault builds"): the same
#                      kernel sources plus kernel/fault.c, with one -D flag
#
# The user programs (user/) are linked as separate static ELF executables,
# stripped, and embedded in the kernel by kernel/progs.S.

GUEST_SRC := $(SRC)/guest
GUEST_OBJ := $(OUT)/obj/guest

# -fno-tree-loop-distribute-patterns: keep GCC from turning memset's own loop
# into a call to memset.
GUEST_CFLAGS := $(BASE_CFLAGS) -fno-tree-loop-distribute-patterns
GUEST_KCFLAGS := $(GUEST_CFLAGS) -I$(GUEST_SRC)/kernel
GUEST_UCFLAGS := $(GUEST_CFLAGS) -I$(GUEST_SRC) -I$(GUEST_SRC)/user

GUEST_KSRCS := entry.S trapvec.S swtch.S progs.S main.c kalloc.c vm.c trap.c \
	proc.c exec.c syscall.c console.c uart.c printf.c sbi.c string.c
GUEST_KOBJS := $(addprefix $(GUEST_OBJ)/kernel/,$(addsuffix .o,$(basename $(GUEST_KSRCS))))

GUEST_PROGS := init sh
GUEST_ULIB := $(addprefix $(GUEST_OBJ)/user/,start.o usys.o ulib.o)
GUEST_UOBJS := $(GUEST_ULIB) $(GUEST_PROGS:%=$(GUEST_OBJ)/user/%.o)
GUEST_UELFS := $(GUEST_PROGS:%=$(GUEST_OBJ)/user/%.elf)
GUEST_USTRIPPED := $(GUEST_PROGS:%=$(GUEST_OBJ)/user/%.stripped)

.PHONY: guest
all: $(OUT)/guest.bin
guest: $(OUT)/guest.elf $(OUT)/guest.bin

$(OUT)/guest.elf: $(GUEST_KOBJS) $(GUEST_SRC)/kernel/kernel.ld
	$(CC) $(GUEST_KCFLAGS) $(BASE_LDFLAGS) -T $(GUEST_SRC)/kernel/kernel.ld -o $@ $(GUEST_KOBJS)

# A changed flag in a make file rebuilds everything that it could change.
$(GUEST_KOBJS) $(GUEST_UOBJS): $(GUEST_SRC)/guest.mk $(SRC)/Makefile

$(OUT)/guest.bin: $(OUT)/guest.elf
	$(OBJCOPY) -O binary $< $@

$(GUEST_OBJ)/kernel/%.o: $(GUEST_SRC)/kernel/%.c
	@mkdir -p $(@D)
	$(CC) $(GUEST_KCFLAGS) -c -o $@ $<

$(GUEST_OBJ)/kernel/%.o: $(GUEST_SRC)/kernel/%.S
	@mkdir -p $(@D)
	$(CC) $(GUEST_KCFLAGS) -c -o $@ $<

# .incbin finds the stripped user programs through the assembler's -I.
$(GUEST_OBJ)/kernel/progs.o: $(GUEST_SRC)/kernel/progs.S $(GUEST_USTRIPPED)
	@mkdir -p $(@D)
	$(CC) $(GUEST_KCFLAGS) -Wa,-I$(GUEST_OBJ)/user -c -o $@ $<

$(GUEST_OBJ)/user/%.o: $(GUEST_SRC)/user/%.c
	@mkdir -p $(@D)
	$(CC) $(GUEST_UCFLAGS) -c -o $@ $<

$(GUEST_OBJ)/user/%.o: $(GUEST_SRC)/user/%.S
	@mkdir -p $(@D)
	$(CC) $(GUEST_UCFLAGS) -c -o $@ $<

# start.o first: it holds _start. The unstripped ELFs keep their debug info.
$(GUEST_OBJ)/user/%.elf: $(GUEST_OBJ)/user/%.o $(GUEST_ULIB) $(GUEST_SRC)/user/user.ld
	$(CC) $(GUEST_UCFLAGS) $(BASE_LDFLAGS) -T $(GUEST_SRC)/user/user.ld -o $@ \
		$(GUEST_OBJ)/user/start.o $< $(GUEST_OBJ)/user/usys.o $(GUEST_OBJ)/user/ulib.o

$(GUEST_OBJ)/user/%.stripped: $(GUEST_OBJ)/user/%.elf
	$(OBJCOPY) --strip-all $< $@

.SECONDARY: $(GUEST_UELFS) $(GUEST_USTRIPPED) $(GUEST_UOBJS)

# Fault builds: guest-NAME.elf and guest-NAME.bin from the kernel sources and
# kernel/fault.c, compiled with one -D flag into obj/guest-NAME/; the user
# programs are guest.elf's. guest.elf itself never sees these flags.
GUEST_FAULTS := nostvec illegal notimer
GUEST_FAULT_FLAG_nostvec := -DGUEST_FAULT_NOSTVEC
GUEST_FAULT_FLAG_illegal := -DGUEST_FAULT_ILLEGAL
GUEST_FAULT_FLAG_notimer := -DGUEST_FAULT_NOTIMER

# $(call guest_fault,name)
define guest_fault
GUEST_FAULT_OBJS_$(1) := $$(addprefix $(OUT)/obj/guest-$(1)/,$$(addsuffix .o,$$(basename $$(GUEST_KSRCS) fault.c)))

$(OUT)/guest-$(1).elf: $$(GUEST_FAULT_OBJS_$(1)) $(GUEST_SRC)/kernel/kernel.ld
	$$(CC) $$(GUEST_KCFLAGS) $$(BASE_LDFLAGS) -T $(GUEST_SRC)/kernel/kernel.ld -o $$@ $$(GUEST_FAULT_OBJS_$(1))

$(OUT)/guest-$(1).bin: $(OUT)/guest-$(1).elf
	$$(OBJCOPY) -O binary $$< $$@

$(OUT)/obj/guest-$(1)/%.o: $(GUEST_SRC)/kernel/%.c
	@mkdir -p $$(@D)
	$$(CC) $$(GUEST_KCFLAGS) $$(GUEST_FAULT_FLAG_$(1)) -c -o $$@ $$<

$(OUT)/obj/guest-$(1)/%.o: $(GUEST_SRC)/kernel/%.S
	@mkdir -p $$(@D)
	$$(CC) $$(GUEST_KCFLAGS) $$(GUEST_FAULT_FLAG_$(1)) -c -o $$@ $$<

$(OUT)/obj/guest-$(1)/progs.o: $(GUEST_SRC)/kernel/progs.S $(GUEST_USTRIPPED)
	@mkdir -p $$(@D)
	$$(CC) $$(GUEST_KCFLAGS) $$(GUEST_FAULT_FLAG_$(1)) -Wa,-I$(GUEST_OBJ)/user -c -o $$@ $$<

-include $$(GUEST_FAULT_OBJS_$(1):.o=.d)
endef

$(foreach f,$(GUEST_FAULTS),$(eval $(call guest_fault,$(f))))

all: $(GUEST_FAULTS:%=$(OUT)/guest-%.elf)

# Fixture builds (../README.md, "Fixture builds"): guests that work, with
# something extra that firmware written elsewhere does.
#   guest-stress.elf, .bin  GUEST_FIXTURE_STRESS: kernel/fixture.c (sbrk, a
#                           lazily faulted heap) and a shell with the
#                           `stress SECONDS` builtin (user/stress.c)
GSTRESS := $(OUT)/obj/guest-stress
GSTRESS_FLAG := -DGUEST_FIXTURE_STRESS
GSTRESS_KOBJS := $(addprefix $(GSTRESS)/kernel/,$(addsuffix .o,$(basename $(GUEST_KSRCS) fixture.c)))
GSTRESS_SH_OBJS := $(GUEST_OBJ)/user/start.o $(GSTRESS)/user/sh.o $(GSTRESS)/user/stress.o \
	$(GUEST_OBJ)/user/usys.o $(GUEST_OBJ)/user/ulib.o

$(OUT)/guest-stress.elf: $(GSTRESS_KOBJS) $(GUEST_SRC)/kernel/kernel.ld
	$(CC) $(GUEST_KCFLAGS) $(BASE_LDFLAGS) -T $(GUEST_SRC)/kernel/kernel.ld -o $@ $(GSTRESS_KOBJS)

$(OUT)/guest-stress.bin: $(OUT)/guest-stress.elf
	$(OBJCOPY) -O binary $< $@

$(GSTRESS)/kernel/%.o: $(GUEST_SRC)/kernel/%.c $(GUEST_SRC)/guest.mk $(SRC)/Makefile
	@mkdir -p $(@D)
	$(CC) $(GUEST_KCFLAGS) $(GSTRESS_FLAG) -c -o $@ $<

$(GSTRESS)/kernel/%.o: $(GUEST_SRC)/kernel/%.S $(GUEST_SRC)/guest.mk $(SRC)/Makefile
	@mkdir -p $(@D)
	$(CC) $(GUEST_KCFLAGS) $(GSTRESS_FLAG) -c -o $@ $<

# This build's sh first on the assembler's path, guest.elf's init after it.
$(GSTRESS)/kernel/progs.o: $(GUEST_SRC)/kernel/progs.S $(GSTRESS)/user/sh.stripped $(GUEST_USTRIPPED)
	@mkdir -p $(@D)
	$(CC) $(GUEST_KCFLAGS) $(GSTRESS_FLAG) -Wa,-I$(GSTRESS)/user -Wa,-I$(GUEST_OBJ)/user -c -o $@ $<

$(GSTRESS)/user/%.o: $(GUEST_SRC)/user/%.c $(GUEST_SRC)/guest.mk $(SRC)/Makefile
	@mkdir -p $(@D)
	$(CC) $(GUEST_UCFLAGS) $(GSTRESS_FLAG) -c -o $@ $<

$(GSTRESS)/user/sh.elf: $(GSTRESS_SH_OBJS) $(GUEST_SRC)/user/user.ld
	$(CC) $(GUEST_UCFLAGS) $(BASE_LDFLAGS) -T $(GUEST_SRC)/user/user.ld -o $@ $(GSTRESS_SH_OBJS)

$(GSTRESS)/user/sh.stripped: $(GSTRESS)/user/sh.elf
	$(OBJCOPY) --strip-all $< $@

.SECONDARY: $(GSTRESS)/user/sh.elf $(GSTRESS)/user/sh.stripped

all: $(OUT)/guest-stress.elf

-include $(GSTRESS_KOBJS:.o=.d) $(GSTRESS)/user/sh.d $(GSTRESS)/user/stress.d

#   guest-hotpage.elf, .bin  GUEST_FIXTURE_HOTPAGE: kernel/hotpage.c, linked
#                           right after vm.o so that its RAM scrub loop runs
#                           on kvminithart's 4 KiB page; the link fails if it
#                           does not (nm: every scrub function's page must be
#                           kvminithart's)
GHOT := $(OUT)/obj/guest-hotpage
GHOT_FLAG := -DGUEST_FIXTURE_HOTPAGE
GHOT_KOBJS := $(addprefix $(GHOT)/kernel/,$(addsuffix .o,$(basename $(patsubst vm.c,vm.c hotpage.c,$(GUEST_KSRCS)))))
GHOT_SAME_PAGE := kvminithart scrub_line scrub_page fixture_scrub_ram

$(OUT)/guest-hotpage.elf: $(GHOT_KOBJS) $(GUEST_SRC)/kernel/kernel.ld
	$(CC) $(GUEST_KCFLAGS) $(BASE_LDFLAGS) -T $(GUEST_SRC)/kernel/kernel.ld -o $@.tmp $(GHOT_KOBJS)
	@$(NM) $@.tmp | awk -v want="$(GHOT_SAME_PAGE)" \
		'BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) need[w[i]] = 1 } \
		 ($$3 in need) { page[$$3] = substr($$1, 1, length($$1) - 3); found++ } \
		 END { if (found != n) { print "guest-hotpage.elf: missing one of $(GHOT_SAME_PAGE)"; exit 1 } \
		       for (s in page) if (page[s] != page["kvminithart"]) { \
		         print "guest-hotpage.elf: " s " is not on kvminithart'"'"'s page"; exit 1 } }'
	mv $@.tmp $@

$(OUT)/guest-hotpage.bin: $(OUT)/guest-hotpage.elf
	$(OBJCOPY) -O binary $< $@

$(GHOT)/kernel/%.o: $(GUEST_SRC)/kernel/%.c $(GUEST_SRC)/guest.mk $(SRC)/Makefile
	@mkdir -p $(@D)
	$(CC) $(GUEST_KCFLAGS) $(GHOT_FLAG) -c -o $@ $<

$(GHOT)/kernel/%.o: $(GUEST_SRC)/kernel/%.S $(GUEST_SRC)/guest.mk $(SRC)/Makefile
	@mkdir -p $(@D)
	$(CC) $(GUEST_KCFLAGS) $(GHOT_FLAG) -c -o $@ $<

$(GHOT)/kernel/progs.o: $(GUEST_SRC)/kernel/progs.S $(GUEST_USTRIPPED)
	@mkdir -p $(@D)
	$(CC) $(GUEST_KCFLAGS) $(GHOT_FLAG) -Wa,-I$(GUEST_OBJ)/user -c -o $@ $<

all: $(OUT)/guest-hotpage.elf

-include $(GHOT_KOBJS:.o=.d)

#   guest-spintrap.elf, .bin  GUEST_FIXTURE_SPINTRAP: kernel/spintrap.S, a
#                           trap vector that spins in `j .` (installed by
#                           trapinithart in place of kernelvec)
GSPIN := $(OUT)/obj/guest-spintrap
GSPIN_FLAG := -DGUEST_FIXTURE_SPINTRAP
GSPIN_KOBJS := $(addprefix $(GSPIN)/kernel/,$(addsuffix .o,$(basename $(GUEST_KSRCS) spintrap.S)))

$(OUT)/guest-spintrap.elf: $(GSPIN_KOBJS) $(GUEST_SRC)/kernel/kernel.ld
	$(CC) $(GUEST_KCFLAGS) $(BASE_LDFLAGS) -T $(GUEST_SRC)/kernel/kernel.ld -o $@ $(GSPIN_KOBJS)

$(OUT)/guest-spintrap.bin: $(OUT)/guest-spintrap.elf
	$(OBJCOPY) -O binary $< $@

$(GSPIN)/kernel/%.o: $(GUEST_SRC)/kernel/%.c $(GUEST_SRC)/guest.mk $(SRC)/Makefile
	@mkdir -p $(@D)
	$(CC) $(GUEST_KCFLAGS) $(GSPIN_FLAG) -c -o $@ $<

$(GSPIN)/kernel/%.o: $(GUEST_SRC)/kernel/%.S $(GUEST_SRC)/guest.mk $(SRC)/Makefile
	@mkdir -p $(@D)
	$(CC) $(GUEST_KCFLAGS) $(GSPIN_FLAG) -c -o $@ $<

$(GSPIN)/kernel/progs.o: $(GUEST_SRC)/kernel/progs.S $(GUEST_USTRIPPED)
	@mkdir -p $(@D)
	$(CC) $(GUEST_KCFLAGS) $(GSPIN_FLAG) -Wa,-I$(GUEST_OBJ)/user -c -o $@ $<

all: $(OUT)/guest-spintrap.elf

-include $(GSPIN_KOBJS:.o=.d)

#   guest-xv6layout.elf      GUEST_FIXTURE_XV6LAYOUT: kernel/xv6layout.c in
#                           place of main.c (xv6-riscv's boot: the other harts
#                           spin in main until `started`), 128 MiB freed page
#                           by page with a junk-filling memset in kfree, linked
#                           by kernel-xv6layout.ld so that the hot loop, main
#                           and kvminithart share one 4 KiB page; the link
#                           fails if they do not (nm). Standalone only.
GXV6 := $(OUT)/obj/guest-xv6layout
GXV6_FLAGS := -DGUEST_FIXTURE_XV6LAYOUT -ffunction-sections
GXV6_KOBJS := $(addprefix $(GXV6)/kernel/,$(addsuffix .o,$(basename \
	$(patsubst main.c,xv6layout.c xv6layout-entry.S,$(GUEST_KSRCS)))))
GXV6_SAME_PAGE := kinit kfree memset main kvminit kvminithart

$(OUT)/guest-xv6layout.elf: $(GXV6_KOBJS) $(GUEST_SRC)/kernel/kernel-xv6layout.ld
	$(CC) $(GUEST_KCFLAGS) $(BASE_LDFLAGS) -T $(GUEST_SRC)/kernel/kernel-xv6layout.ld -o $@.tmp $(GXV6_KOBJS)
	@$(NM) $@.tmp | awk -v want="$(GXV6_SAME_PAGE)" \
		'BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) need[w[i]] = 1 } \
		 ($$3 in need) { page[$$3] = substr($$1, 1, length($$1) - 3); found++ } \
		 END { if (found != n) { print "guest-xv6layout.elf: missing one of $(GXV6_SAME_PAGE)"; exit 1 } \
		       for (s in page) if (page[s] != page["kvminithart"]) { \
		         print "guest-xv6layout.elf: " s " is not on kvminithart'"'"'s page"; exit 1 } }'
	mv $@.tmp $@

$(GXV6)/kernel/%.o: $(GUEST_SRC)/kernel/%.c $(GUEST_SRC)/guest.mk $(SRC)/Makefile
	@mkdir -p $(@D)
	$(CC) $(GUEST_KCFLAGS) $(GXV6_FLAGS) -c -o $@ $<

$(GXV6)/kernel/%.o: $(GUEST_SRC)/kernel/%.S $(GUEST_SRC)/guest.mk $(SRC)/Makefile
	@mkdir -p $(@D)
	$(CC) $(GUEST_KCFLAGS) $(GXV6_FLAGS) -c -o $@ $<

$(GXV6)/kernel/progs.o: $(GUEST_SRC)/kernel/progs.S $(GUEST_USTRIPPED)
	@mkdir -p $(@D)
	$(CC) $(GUEST_KCFLAGS) $(GXV6_FLAGS) -Wa,-I$(GUEST_OBJ)/user -c -o $@ $<

all: $(OUT)/guest-xv6layout.elf

-include $(GXV6_KOBJS:.o=.d)

-include $(GUEST_KOBJS:.o=.d) $(GUEST_UOBJS:.o=.d)
