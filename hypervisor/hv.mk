# Hypervisor build rules (included by hypervisor/Makefile).
#
# Two ELFs from the same sources, differing in one -D flag:
#   hypervisor.elf         HV_HENVCFG_ADUE=1  sets henvcfg.ADUE (the fix)
#   hypervisor-noadue.elf  HV_HENVCFG_ADUE=0  leaves it as reset left it
# Each embeds $(OUT)/guest.bin (see guest_image.S).

HV_SRCS := entry.S trapvec.S guest_image.S main.c hart.c vm.c trap.c vsbi.c \
	sbi.c pci.c uart.c printf.c string.c
HV_HDRS := $(wildcard $(SRC)/*.h)

# No -march H spelling needed: riscv.h uses CSR numbers and .insn (see there).
# -fno-tree-loop-distribute-patterns keeps GCC from turning memset's own loop
# into a call to memset.
HV_CFLAGS := $(BASE_CFLAGS) -I$(SRC) -fno-tree-loop-distribute-patterns \
	-DGUEST_BIN='"$(OUT)/guest.bin"'

# $(call hv_variant,name,adue)
define hv_variant
$(OUT)/obj/$(1)/%.o: $(SRC)/%.c $(HV_HDRS) | $(OUT)/obj/$(1)
	$$(CC) $$(HV_CFLAGS) -DHV_HENVCFG_ADUE=$(2) -c -o $$@ $$<
$(OUT)/obj/$(1)/%.o: $(SRC)/%.S $(HV_HDRS) | $(OUT)/obj/$(1)
	$$(CC) $$(HV_CFLAGS) -DHV_HENVCFG_ADUE=$(2) -c -o $$@ $$<
$(OUT)/obj/$(1)/guest_image.o: $(OUT)/guest.bin
$(OUT)/obj/$(1):
	mkdir -p $$@
-include $(wildcard $(OUT)/obj/$(1)/*.d)
endef

$(eval $(call hv_variant,hv-adue,1))
$(eval $(call hv_variant,hv-noadue,0))

HV_ADUE_OBJS   := $(addprefix $(OUT)/obj/hv-adue/,$(addsuffix .o,$(basename $(HV_SRCS))))
HV_NOADUE_OBJS := $(addprefix $(OUT)/obj/hv-noadue/,$(addsuffix .o,$(basename $(HV_SRCS))))

$(OUT)/hypervisor.elf: $(HV_ADUE_OBJS) $(SRC)/hv.ld
	$(CC) $(BASE_CFLAGS) $(BASE_LDFLAGS) -T $(SRC)/hv.ld -o $@ $(HV_ADUE_OBJS)

$(OUT)/hypervisor-noadue.elf: $(HV_NOADUE_OBJS) $(SRC)/hv.ld
	$(CC) $(BASE_CFLAGS) $(BASE_LDFLAGS) -T $(SRC)/hv.ld -o $@ $(HV_NOADUE_OBJS)
