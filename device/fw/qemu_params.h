/* The parameter block the host places at BOARD_PARAMS for one QEMU run of the
 * test firmware (device/host/fwdq.c writes it, main.c reads it).
 * Little-endian, fixed offsets, no struct layout shared across compilers. */
#ifndef FWD_QEMU_PARAMS_H
#define FWD_QEMU_PARAMS_H

#define QP_MAGIC       0x50515746u /* "FWQP" */
#define QP_OFF_MAGIC   0u
#define QP_OFF_OLD     4u   /* bytes of bank A's image */
#define QP_OFF_NEW     8u   /* bytes of the expected new image */
#define QP_OFF_PATCH   12u  /* bytes of the staged patch */
#define QP_OFF_CHUNK   16u  /* bytes handed to fwd_apply_feed per call */
#define QP_OFF_SHA     20u  /* SHA-256 of the expected new image, computed on the host */
#define QP_SIZE        52u

#define QP_PRODUCT     "fwdelta-qemu-an386" /* the product the firmware claims to be */

#endif
