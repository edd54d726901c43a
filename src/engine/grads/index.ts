// Importing this module registers every op's reverse-mode rule (autodiff.ts does).
import "./elementwise.js";
import "./linalg.js";
import "./nn.js";
import "./reduce.js";
import "./shape.js";
