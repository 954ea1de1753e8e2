"""The frontiers chapter's experiments, one module each (imported as ``gradbook.frontiers.<module>``):

- ``interpret``: saliency maps, Grad-CAM and the sanity check of both (gradients with respect to the input);
- ``compute``: multiply–adds layer by layer, and the throughput a model reaches on this machine;
- ``precision``: what float16 does to small gradients, and why loss scaling exists;
- ``transfer``: features learned on some digits, reused to learn others from few examples.
"""
