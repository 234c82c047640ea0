// Paths the catalogue serves (see .storybook/main.ts): the shipped default model and its samples.
export const MODEL = './models/default/bagnet.json';
export const BIG_MODEL = './models/generated/bagnet33-random/bagnet.json';

export const SAMPLES = [
  '00-t-shirt-top', '01-t-shirt-top', '02-trouser', '03-trouser', '04-pullover', '05-pullover', '06-dress', '07-dress',
  '08-coat', '09-coat', '10-sandal', '11-sandal', '12-shirt', '13-shirt', '14-sneaker', '15-sneaker', '16-bag', '17-bag',
  '18-ankle-boot', '19-ankle-boot',
].map((name) => `./models/default/samples/${name}.png`);
