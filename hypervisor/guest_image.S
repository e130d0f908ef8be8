# The guest kernel, embedded: guest.bin is copied into each VM's RAM at boot.
# GUEST_BIN is its path, given by hv.mk.

.section .rodata.guest, "a"
.balign 4096
.globl guest_image
guest_image:
	.incbin GUEST_BIN
.globl guest_image_end
guest_image_end:
