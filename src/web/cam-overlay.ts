import { heatmapRgba } from '../explain/heatmap.js';
import { type Lang, t } from './i18n.js';

/** The part of an explained /predict answer this module reads (see the OpenAPI schema of `explain=true`). */
export interface ExplainedAnswer {
  image?: { width: number; height: number };
  predictions: { label: string; label_zh: string; cam?: number[][]; crop?: Box }[];
}

interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

const GRID = 7;

/**
 * "Show where it looked": the class activation map of the chosen class drawn over the preview, exactly on the part
 * of the photo the model saw (the answer's crop box), with the rest of the photo dimmed. One map per class,
 * chosen by clicking (or Enter/Space on) the class's row. The page owns the request; this owns the toggle, the
 * canvas and the rows' selection.
 *
 * The canvas sits in a frame around the preview; its CSS box is the crop box scaled to the displayed photo
 * (`object-fit: contain` letterboxing included), and a wide box-shadow, clipped by the frame, is the dimming.
 */
export class CamOverlay {
  readonly #preview: HTMLImageElement;
  readonly #media: HTMLDivElement;
  readonly #canvas: HTMLCanvasElement;
  readonly #toggle: HTMLButtonElement;
  readonly #caption: HTMLParagraphElement;
  #answer: ExplainedAnswer | undefined;
  #items: HTMLElement[] = [];
  #selected = 0;
  #on = false;
  #available = true;
  #lang: Lang = 'en';

  /**
   * @param preview - the page's preview image; it is wrapped in a frame that also holds the canvas.
   * @param before - the toggle is inserted before this element (the list of classes).
   */
  constructor(preview: HTMLImageElement, before: HTMLElement) {
    this.#preview = preview;
    // One grid cell, as the preview was: the frame (photo + canvas) and the caption under it.
    const media = document.createElement('div');
    media.className = 'cam-media';
    this.#media = media;
    const frame = document.createElement('div');
    frame.className = 'cam-frame';
    preview.replaceWith(media);
    this.#canvas = document.createElement('canvas');
    this.#canvas.id = 'cam-canvas';
    this.#canvas.className = 'cam-canvas';
    this.#canvas.hidden = true;
    this.#canvas.setAttribute('aria-hidden', 'true');
    this.#caption = document.createElement('p');
    this.#caption.id = 'cam-caption';
    this.#caption.className = 'cam-caption';
    this.#caption.hidden = true;
    frame.append(preview, this.#canvas);
    media.append(frame, this.#caption);

    this.#toggle = document.createElement('button');
    this.#toggle.type = 'button';
    this.#toggle.id = 'cam-toggle';
    this.#toggle.className = 'cam-toggle';
    this.#toggle.setAttribute('aria-pressed', 'false');
    this.#toggle.hidden = true;
    this.#toggle.addEventListener('click', () => {
      this.#on = !this.#on;
      this.#draw();
    });
    before.before(this.#toggle);

    // The preview's displayed size changes when it loads, with the window, and with the layout (375 px phones).
    new ResizeObserver(() => this.#draw()).observe(preview);
    // A photo this browser cannot show (TIFF in Chromium, a damaged file) leaves no broken-image icon: no preview,
    // and no toggle for a map with no photo under it, until the next photo loads.
    preview.addEventListener('load', () => {
      media.hidden = false;
      this.#draw();
    });
    preview.addEventListener('error', () => {
      media.hidden = true;
      this.#draw();
    });
  }

  /** Whether the page should ask for maps: false once the server said its model cannot explain. */
  get available(): boolean {
    return this.#available;
  }

  /** The server answered EXPLAIN_UNAVAILABLE: stop asking, and hide the toggle. */
  markUnavailable(): void {
    this.#available = false;
  }

  /** Another model was picked: ask for maps again when it can give them (its /config entry says). */
  markAvailable(available: boolean): void {
    this.#available = available;
  }

  /**
   * Shows the toggle and the selected class's map for a new answer (or hides everything for `undefined`), and makes
   * `items` (one element per prediction, in order) select their class.
   */
  show(answer: ExplainedAnswer | undefined, items: readonly HTMLElement[], lang: Lang): void {
    this.#lang = lang;
    if (answer !== this.#answer) this.#selected = 0;
    this.#answer = answer;
    this.#items = [...items];
    for (const [i, item] of this.#items.entries()) {
      const select = (): void => {
        if (!this.#on) return;
        this.#selected = i;
        this.#draw();
      };
      item.addEventListener('click', select);
      item.addEventListener('keydown', (event) => {
        if (this.#on && (event.key === 'Enter' || event.key === ' ')) {
          event.preventDefault();
          select();
        }
      });
    }
    this.#draw();
  }

  #explained(): boolean {
    const first = this.#answer?.predictions[0];
    return !this.#media.hidden && this.#answer?.image !== undefined && first?.cam !== undefined && first.crop !== undefined;
  }

  #draw(): void {
    const answer = this.#answer;
    const explained = this.#explained();
    this.#toggle.hidden = !explained;
    this.#toggle.textContent = t(this.#lang, 'camToggle');
    this.#toggle.setAttribute('aria-pressed', String(this.#on));
    const on = this.#on && explained;
    for (const [i, item] of this.#items.entries()) {
      const prediction = answer?.predictions[i];
      item.classList.toggle('cam-selectable', on);
      item.classList.toggle('cam-selected', on && i === this.#selected);
      if (on && prediction !== undefined) {
        item.tabIndex = 0;
        item.setAttribute('role', 'button');
        item.setAttribute('aria-pressed', String(i === this.#selected));
        item.setAttribute('aria-label', t(this.#lang, 'camPick', { label: this.#lang === 'zh' ? prediction.label_zh : prediction.label }));
      } else {
        item.removeAttribute('tabindex');
        item.removeAttribute('role');
        item.removeAttribute('aria-pressed');
        item.removeAttribute('aria-label');
      }
    }
    const prediction = answer?.predictions[this.#selected];
    const placed =
      on &&
      answer?.image !== undefined &&
      prediction?.cam !== undefined &&
      prediction.crop !== undefined &&
      this.#place(answer.image, prediction.crop, prediction.cam);
    this.#canvas.hidden = !placed;
    // The caption keeps its place while the map is off, so turning it on moves nothing on the page.
    // A model that cannot explain says so under its answer, instead of the toggle silently missing.
    const unavailable = !this.#available && answer !== undefined && !this.#media.hidden;
    this.#caption.hidden = !explained && !unavailable;
    this.#caption.classList.toggle('cam-caption-off', !placed && !unavailable);
    if (unavailable) this.#caption.textContent = t(this.#lang, 'camUnavailable');
    else if (explained && prediction !== undefined) {
      this.#caption.textContent = t(this.#lang, 'camCaption', { label: this.#lang === 'zh' ? prediction.label_zh : prediction.label });
    }
  }

  /** Puts the canvas on the crop box as displayed and paints the map; false while the preview has no size yet. */
  #place(image: { width: number; height: number }, crop: Box, cam: number[][]): boolean {
    const shownWidth = this.#preview.clientWidth;
    const shownHeight = this.#preview.clientHeight;
    if (shownWidth === 0 || shownHeight === 0) return false;
    // object-fit: contain — the photo is scaled to fit and centred in the element.
    const scale = Math.min(shownWidth / image.width, shownHeight / image.height);
    const offsetX = (shownWidth - image.width * scale) / 2;
    const offsetY = (shownHeight - image.height * scale) / 2;
    const style = this.#canvas.style;
    style.left = `${offsetX + crop.left * scale}px`;
    style.top = `${offsetY + crop.top * scale}px`;
    style.width = `${crop.width * scale}px`;
    style.height = `${crop.height * scale}px`;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(crop.width * scale * ratio));
    const height = Math.max(1, Math.round(crop.height * scale * ratio));
    this.#canvas.width = width;
    this.#canvas.height = height;
    const map = Float32Array.from(cam.flat());
    if (map.length !== GRID * GRID) return false;
    this.#canvas.getContext('2d')?.putImageData(new ImageData(heatmapRgba(map, width, height), width, height), 0, 0);
    return true;
  }
}
