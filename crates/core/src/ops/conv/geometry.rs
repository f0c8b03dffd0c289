//! The sizes of one convolution: input, weight, output, and how the batch is cut into
//! chunks of images. Checked once, with PyTorch's rules, so the loops can trust them.

use super::Conv2dConfig;

/// The most chunks a batch is cut into. The backward keeps one partial weight gradient and
/// one set of scratch columns per chunk, so this bounds that memory (8 copies of the weight
/// and of one image's columns); 8 chunks keep up to 8 threads busy.
const MAX_CHUNKS: usize = 8;

/// Every size of a `conv2d` call, NCHW, in PyTorch's terms. The output of height `oh` and
/// width `ow` is `(h + 2 ph - dh (kh - 1) - 1) / sh + 1` by `(w + 2 pw - dw (kw - 1) - 1) / sw + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
    pub dh: usize,
    pub dw: usize,
    pub groups: usize,
    pub oh: usize,
    pub ow: usize,
}

/// One output size along an axis, or `None` if the dilated kernel does not fit the padded
/// input.
fn out_size(
    input: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    dilation: usize,
) -> Option<usize> {
    let span = dilation * (kernel - 1) + 1;
    (input + 2 * pad)
        .checked_sub(span)
        .map(|room| room / stride + 1)
}

impl Geometry {
    /// The sizes of `x` `[n, c_in, h, w]` convolved with `weight` `[c_out, c_in / groups, kh,
    /// kw]` (and a bias `[c_out]`), or a panic naming `conv2d` and the shapes.
    pub(crate) fn new(
        x: &[usize],
        weight: &[usize],
        bias: Option<&[usize]>,
        config: &Conv2dConfig,
    ) -> Self {
        let fail = |why: &str| -> ! {
            panic!(
                "conv2d: input {x:?}, weight {weight:?}{}: {why}",
                bias.map_or(String::new(), |b| format!(", bias {b:?}"))
            )
        };
        let (&[n, c_in, h, w], &[c_out, c_group, kh, kw]) = (x, weight) else {
            fail("expected input [N, C_in, H, W] and weight [C_out, C_in / groups, kH, kW]")
        };
        let Conv2dConfig {
            stride,
            padding,
            dilation,
            groups,
        } = *config;
        if groups == 0 || stride.h == 0 || stride.w == 0 || dilation.h == 0 || dilation.w == 0 {
            fail(&format!(
                "stride {stride}, dilation {dilation} and groups {groups} must be positive"
            ));
        }
        if kh == 0 || kw == 0 || c_in == 0 || c_out == 0 || h == 0 || w == 0 {
            fail("the kernel, the channels and the images must be non-empty");
        }
        if c_group * groups != c_in || !c_out.is_multiple_of(groups) {
            fail(&format!(
                "{groups} groups need C_in = {groups} x weight's second dimension and C_out divisible by {groups}"
            ));
        }
        if bias.is_some_and(|b| b != [c_out]) {
            fail("the bias must be [C_out]");
        }
        let oh = out_size(h, kh, stride.h, padding.h, dilation.h);
        let ow = out_size(w, kw, stride.w, padding.w, dilation.w);
        let (Some(oh), Some(ow)) = (oh, ow) else {
            fail(&format!(
                "the kernel ({kh}x{kw}, dilation {dilation}) is larger than the padded input ({}x{})",
                h + 2 * padding.h,
                w + 2 * padding.w
            ))
        };
        Geometry {
            n,
            c_in,
            h,
            w,
            c_out,
            kh,
            kw,
            sh: stride.h,
            sw: stride.w,
            ph: padding.h,
            pw: padding.w,
            dh: dilation.h,
            dw: dilation.w,
            groups,
            oh,
            ow,
        }
    }

    /// The output's shape, `[n, c_out, oh, ow]`.
    pub(crate) fn out_shape(&self) -> [usize; 4] {
        [self.n, self.c_out, self.oh, self.ow]
    }

    /// Output positions per channel, `oh * ow`: the columns of the GEMMs.
    pub(crate) fn l(&self) -> usize {
        self.oh * self.ow
    }

    /// The length of a group's filter, `c_in / groups * kh * kw`: the GEMMs' inner dimension.
    pub(crate) fn k(&self) -> usize {
        self.c_in / self.groups * self.kh * self.kw
    }

    /// Output channels per group.
    pub(crate) fn c_out_group(&self) -> usize {
        self.c_out / self.groups
    }

    /// Elements of one input image, `c_in * h * w`.
    pub(crate) fn image_len(&self) -> usize {
        self.c_in * self.h * self.w
    }

    /// Elements of one output image, `c_out * oh * ow`.
    pub(crate) fn out_image_len(&self) -> usize {
        self.c_out * self.l()
    }

    /// Elements of one image's columns, `[c_in * kh * kw, oh * ow]`.
    pub(crate) fn cols_len(&self) -> usize {
        self.groups * self.k() * self.l()
    }

    /// Elements of the weight.
    pub(crate) fn weight_len(&self) -> usize {
        self.c_out * self.k()
    }

    /// Images per chunk: the batch in at most [`MAX_CHUNKS`] chunks, the last possibly
    /// shorter. It depends on the batch size alone, never on the thread count, so sums over
    /// chunks have the same bits on any number of threads.
    pub(crate) fn images_per_chunk(&self) -> usize {
        self.n.div_ceil(MAX_CHUNKS).max(1)
    }

    /// How many chunks the batch is cut into.
    pub(crate) fn chunks(&self) -> usize {
        self.n.div_ceil(self.images_per_chunk())
    }

    /// Whether the columns of an image are the image itself (a 1x1 kernel, stride 1, no
    /// padding): then no copy is needed.
    pub(crate) fn is_pointwise(&self) -> bool {
        (self.kh, self.kw, self.sh, self.sw, self.ph, self.pw) == (1, 1, 1, 1, 0, 0)
    }

    /// The input row read by output row `o` at kernel row `k` (padded coordinates shifted
    /// back), or `None` in the padding.
    pub(crate) fn input_row(&self, o: usize, k: usize) -> Option<usize> {
        (o * self.sh + k * self.dh)
            .checked_sub(self.ph)
            .filter(|&i| i < self.h)
    }

    /// The input column read by output column `o` at kernel column `k`, or `None` in the
    /// padding.
    #[cfg_attr(not(test), allow(dead_code))] // by `plain.rs`, which the tests run
    pub(crate) fn input_col(&self, o: usize, k: usize) -> Option<usize> {
        (o * self.sw + k * self.dw)
            .checked_sub(self.pw)
            .filter(|&j| j < self.w)
    }
}
