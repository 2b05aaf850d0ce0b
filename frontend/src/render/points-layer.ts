// A minimal deck.gl layer for many small points: one vertex per point (point-list topology) and a
// vertex shader that is one matrix product. deck.gl's ScatterplotLayer spends four vertices and the
// whole projection module per point, which software WebGL (headless Chromium, VMs without a GPU)
// cannot afford at a million points. Picking is done on the CPU by the views instead.

import { Layer, type DefaultProps, type LayerProps, type UpdateParameters } from "@deck.gl/core";
import { Model } from "@luma.gl/engine";
import type { ShaderModule } from "@luma.gl/shadertools";

const uniformBlock = `\
layout(std140) uniform avzPointsUniforms {
  mat4 viewProjection;
  float pixelsPerUnit;
  float radius;
  float minPixels;
  float maxPixels;
  float useSizes;
} avzPoints;
`;

type PointsUniforms = {
  viewProjection: number[];
  pixelsPerUnit: number;
  radius: number;
  minPixels: number;
  maxPixels: number;
  useSizes: number;
};

const pointsModule = {
  name: "avzPoints",
  vs: uniformBlock,
  fs: uniformBlock,
  uniformTypes: {
    viewProjection: "mat4x4<f32>",
    pixelsPerUnit: "f32",
    radius: "f32",
    minPixels: "f32",
    maxPixels: "f32",
    useSizes: "f32",
  },
} as unknown as ShaderModule<PointsUniforms>;

const vs = `\
#version 300 es
#define SHADER_NAME avz-points-vertex
in vec3 positions;
in vec4 colors;
in float sizes;
out vec4 vColor;
out float vPixels;
void main(void) {
  gl_Position = avzPoints.viewProjection * vec4(positions, 1.0);
  float radius = avzPoints.useSizes > 0.5 ? sizes : avzPoints.radius;
  float pixels = clamp(2.0 * radius * avzPoints.pixelsPerUnit, avzPoints.minPixels, avzPoints.maxPixels);
  gl_PointSize = pixels;
  vPixels = pixels;
  vColor = vec4(colors.rgb, colors.a * layer.opacity);
}
`;

const fs = `\
#version 300 es
#define SHADER_NAME avz-points-fragment
precision highp float;
in vec4 vColor;
in float vPixels;
out vec4 fragColor;
void main(void) {
  if (vPixels > 2.5) {
    vec2 c = gl_PointCoord * 2.0 - 1.0;
    if (dot(c, c) > 1.0) discard;
  }
  fragColor = vColor;
}
`;

export interface PointsLayerProps extends LayerProps {
  /** binary data: { length, attributes: { getPosition: {value, size}, getColor: {value, size: 4}, getSize? } } */
  data: unknown;
  /** 2 or 3 coordinates per point */
  dim?: number;
  /** radius in world units (ignored where per-point sizes are given) */
  radius?: number;
  minPixels?: number;
  maxPixels?: number;
  /** per-point radii are supplied in data.attributes.getSize (not named `sizes`: deck.gl reads a
   * prop named like an attribute as the removed way of passing it, and logs an error per render) */
  sizedPoints?: boolean;
  getPosition?: unknown;
  getColor?: unknown;
  getSize?: unknown;
}

const defaultProps: DefaultProps<PointsLayerProps> = {
  getPosition: { type: "accessor", value: [0, 0, 0] },
  getColor: { type: "accessor", value: [0, 0, 0, 255] },
  getSize: { type: "accessor", value: 1 },
  dim: 2,
  radius: 0.3,
  minPixels: 1,
  maxPixels: 16,
  sizedPoints: false,
};

export class PointsLayer extends Layer<PointsLayerProps> {
  static override layerName = "PointsLayer";
  static override defaultProps = defaultProps;
  declare state: { model?: Model };

  override getShaders() {
    return super.getShaders({ vs, fs, modules: [pointsModule] });
  }

  override initializeState(): void {
    this.getAttributeManager()!.add({
      positions: { size: this.props.dim ?? 2, type: "float32", accessor: "getPosition" },
      colors: { size: 4, type: "unorm8", accessor: "getColor" },
      sizes: { size: 1, type: "float32", accessor: "getSize", defaultValue: 1 },
    });
  }

  override updateState(params: UpdateParameters<this>): void {
    super.updateState(params);
    if (!this.state.model) {
      this.state.model = new Model(this.context.device, {
        ...this.getShaders(),
        id: this.props.id,
        bufferLayout: this.getAttributeManager()!.getBufferLayouts(),
        topology: "point-list",
        isInstanced: false,
        vertexCount: 0,
      });
    }
  }

  override draw(): void {
    const model = this.state.model;
    if (!model) return;
    const { viewport } = this.context;
    // device pixels per CSS pixel of the buffer drawn into (a PNG export draws at 2x or 4x)
    const [bufferWidth] = this.context.device.getDefaultCanvasContext().getDrawingBufferSize();
    const [cssWidth] = this.context.device.getDefaultCanvasContext().getCSSSize();
    const ratio = cssWidth > 0 && bufferWidth > 0 ? bufferWidth / cssWidth : window.devicePixelRatio || 1;
    model.shaderInputs.setProps({
      avzPoints: {
        viewProjection: viewport.viewProjectionMatrix as number[],
        pixelsPerUnit: 2 ** viewport.zoom * ratio,
        radius: this.props.radius ?? 0.3,
        minPixels: (this.props.minPixels ?? 1) * ratio,
        maxPixels: (this.props.maxPixels ?? 16) * ratio,
        useSizes: this.props.sizedPoints ? 1 : 0,
      },
    });
    model.setVertexCount(this.getNumInstances());
    model.draw(this.context.renderPass);
  }

  override finalizeState(context: Parameters<Layer["finalizeState"]>[0]): void {
    super.finalizeState(context);
    this.state.model?.destroy();
  }
}
