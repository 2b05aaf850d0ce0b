// The one WebGL context: a deck.gl Deck with an orthographic view (2D: Matrix and Single View)
// and an orbit view (3D Single View), a controlled camera, and a "drawn" promise that resolves
// after the first frame drawn with the current layers once no camera transition is running.

import { Deck, LinearInterpolator, OrbitView, OrthographicView, type Layer, type PickingInfo } from "@deck.gl/core";

export interface Camera2D {
  target: [number, number, number];
  zoom: number;
}

export interface Camera3D {
  target: [number, number, number];
  zoom: number;
  rotationX: number;
  rotationOrbit: number;
}

export type CameraChange = { camera: Camera2D | Camera3D; userInteraction: boolean };

export interface CanvasEvents {
  onHover(info: PickingInfo): void;
  onClick(info: PickingInfo): void;
  onCamera(change: CameraChange): void;
}

const ORTHO = new OrthographicView({ id: "ortho", flipY: true, controller: { inertia: false, scrollZoom: { speed: 0.01, smooth: false } } });
const ORBIT = new OrbitView({ id: "orbit", orbitAxis: "Y", controller: { inertia: false, scrollZoom: { speed: 0.01, smooth: false } } });

export class Canvas {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- views switch between kinds at run time
  readonly deck: Deck<any>;
  private mode: "2d" | "3d" = "2d";
  private camera: Camera2D | Camera3D = { target: [0, 0, 0], zoom: 0 };
  private transitioning = false;
  private pending = false;
  private waiters: (() => void)[] = [];

  constructor(
    readonly parent: HTMLDivElement,
    private readonly events: CanvasEvents,
  ) {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    this.deck = new Deck<any>({
      parent,
      views: [ORTHO],
      viewState: this.camera as never,
      layers: [],
      useDevicePixels: true,
      controller: true,
      getCursor: ({ isDragging, isHovering }) => (isDragging ? "grabbing" : isHovering ? "pointer" : "grab"),
      onViewStateChange: ({ viewState, interactionState }) => {
        const camera = viewState as unknown as Camera2D | Camera3D;
        const inTransition = Boolean(interactionState?.inTransition);
        const userInteraction = !inTransition && Boolean(
          interactionState?.isZooming || interactionState?.isPanning || interactionState?.isDragging || interactionState?.isRotating,
        );
        this.camera = camera;
        this.deck.setProps({ viewState: camera as never });
        this.events.onCamera({ camera, userInteraction });
        return camera as never;
      },
      onHover: (info) => this.events.onHover(info),
      onClick: (info) => this.events.onClick(info),
      onAfterRender: () => this.afterRender(),
      deviceProps: { type: "webgl" },
    });
  }

  get size(): { width: number; height: number } {
    return { width: this.parent.clientWidth || 800, height: this.parent.clientHeight || 600 };
  }

  get currentCamera(): Camera2D | Camera3D {
    return this.camera;
  }

  get is3d(): boolean {
    return this.mode === "3d";
  }

  /** Milliseconds the last frame held the page (drawing plus the compositor's read-back). */
  frameCost = 16;
  private drawStart = 0;

  setLayers(layers: Layer[]): void {
    this.pending = true;
    this.drawStart = performance.now();
    this.deck.setProps({ layers });
  }

  /** Switch between the orthographic and the orbit view, placing the camera. */
  setMode(mode: "2d" | "3d", camera: Camera2D | Camera3D): void {
    this.mode = mode;
    this.camera = camera;
    this.transitioning = false;
    this.deck.setProps({ views: [mode === "3d" ? ORBIT : ORTHO], viewState: camera as never });
  }

  /** Move the camera, animated over `duration` ms (0: at once). */
  moveTo(camera: Camera2D | Camera3D, duration = 0): void {
    if (duration <= 0) {
      this.camera = camera;
      this.transitioning = false;
      this.deck.setProps({ viewState: camera as never });
      return;
    }
    this.transitioning = true;
    this.pending = true;
    const viewState = {
      ...camera,
      transitionDuration: duration,
      transitionInterpolator: new LinearInterpolator(["target", "zoom"]),
      onTransitionEnd: () => {
        this.transitioning = false;
        this.pending = true;
        this.deck.redraw("transition end");
      },
      onTransitionInterrupt: () => {
        this.transitioning = false;
      },
    };
    this.deck.setProps({ viewState: viewState as never });
  }

  /** Resolves after the next frame drawn with the current layers and a resting camera. */
  drawn(): Promise<void> {
    const promise = new Promise<void>((resolve) => this.waiters.push(resolve));
    this.pending = true;
    this.deck.redraw("waiting for a frame");
    return promise;
  }

  unproject(x: number, y: number): number[] | null {
    const viewports = this.deck.getViewports();
    return viewports.length ? viewports[0].unproject([x, y]) : null;
  }

  project(position: number[]): number[] | null {
    const viewports = this.deck.getViewports();
    return viewports.length ? viewports[0].project(position) : null;
  }

  redraw(): void {
    this.deck.redraw("requested");
  }

  private afterRender(): void {
    if (this.drawStart) {
      const start = this.drawStart;
      this.drawStart = 0;
      requestAnimationFrame(() => {
        this.frameCost = performance.now() - start;
      });
    }
    if (!this.pending || this.transitioning) return;
    this.pending = false;
    const waiters = this.waiters;
    this.waiters = [];
    // Resolve on the next animation frame: by then the frame just drawn has been composited.
    requestAnimationFrame(() => {
      for (const resolve of waiters) resolve();
    });
  }
}
